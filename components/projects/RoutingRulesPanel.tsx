"use client";
// Routing rules of a project, in the Intake tab: members read them; owners add, edit, enable,
// reorder and delete them, and test an expression against a sample file of their own (read for
// its header on the server, neither stored nor logged).
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import {
  ActionIcon, Alert, Anchor, Badge, Button, Card, Code, Collapse, FileInput, Group, Modal, Stack, Switch, Table, Text, TextInput, Title, Tooltip,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconArrowDown, IconArrowUp, IconFileSearch, IconPencil, IconPlus, IconRoute, IconTrash, IconFlask } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

/** Monospace for the expression and its error (so a caret lines up), not for the label. */
const MONO = { input: { fontFamily: "var(--mantine-font-family-monospace)" } };

const EXAMPLES = [
  ['Modality == "MR" && StudyDescription ~ /brain/i', "MR studies whose description mentions brain, in any case"],
  ['(0008,0060) == "CT" && SliceThickness <= 1.5', "thin-slice CT (tags may be written (gggg,eeee) or [gggg,eeee])"],
  ['InstitutionName contains "Erasmus" || StationName startsWith "MR7"', "text tests: contains, startsWith, endsWith (case-sensitive)"],
  ['!(SeriesDescription ~ /scout|localizer/i) && Modality != "SR"', "everything but scouts and structured reports"],
];

function SyntaxHelp() {
  return (
    <Stack gap={6}>
      <Text size="sm">
        A rule is a condition on the instance&apos;s header. Name attributes by DICOM keyword (<Code>StudyDescription</Code>) or tag
        (<Code>(0008,1030)</Code>, <Code>[0008,1030]</Code>); compare with <Code>==</Code> <Code>!=</Code> <Code>&lt;</Code> <Code>&lt;=</Code>{" "}
        <Code>&gt;</Code> <Code>&gt;=</Code> (as numbers when both sides are numbers), <Code>~</Code> / <Code>!~</Code> a regular expression{" "}
        <Code>/…/i</Code>, or <Code>contains</Code> <Code>startsWith</Code> <Code>endsWith</Code> a <Code>&quot;string&quot;</Code>; combine with{" "}
        <Code>&amp;&amp;</Code> <Code>||</Code> <Code>!</Code> and parentheses. A missing attribute is the empty string.
      </Text>
      <Text size="sm" data-testid="rules-regex-help">
        Regular expressions run on RE2, which takes time proportional to the value whatever the pattern. Its syntax is
        JavaScript&apos;s without backreferences (<Code>\1</Code>, <Code>\k&lt;name&gt;</Code>) and without lookahead or lookbehind
        (<Code>(?=…)</Code> <Code>(?!…)</Code> <Code>(?&lt;=…)</Code> <Code>(?&lt;!…)</Code>); repetition counts are at most 1000,{" "}
        <Code>\d</Code> <Code>\w</Code> <Code>\s</Code> are ASCII-only, and <Code>\u00e9</Code> is written <Code>\x{"{e9}"}</Code>.
        A rule whose pattern RE2 cannot compile is refused with the reason.
      </Text>
      <Table fz="sm" withRowBorders={false}>
        <Table.Tbody>
          {EXAMPLES.map(([e, d]) => (
            <Table.Tr key={e}>
              <Table.Td><Code>{e}</Code></Table.Td>
              <Table.Td><Text size="xs" c="dimmed">{d}</Text></Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}

async function fileToBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** The expression with a caret under the column an error names. */
function Caret({ expression, column }: { expression: string; column: number }) {
  return (
    <Code block data-testid="rule-error-caret">
      {expression}
      {"\n"}
      {" ".repeat(Math.max(0, column - 1))}^
    </Code>
  );
}

function FormError({ message, expression }: { message: string; expression: string }) {
  const column = /^At column (\d+):/.exec(message)?.[1];
  return (
    <>
      {message}
      {column && <Caret expression={expression} column={Number(column)} />}
    </>
  );
}

function RuleTester({ projectId, expression, setExpression }: { projectId: string; expression: string; setExpression: (s: string) => void }) {
  const trpc = useTRPC();
  const [file, setFile] = useState<File | null>(null);
  const test = useMutation(trpc.rules.test.mutationOptions());
  const run = async () => {
    if (!file) return;
    test.mutate({ projectId, expression, sampleBase64: await fileToBase64(file) });
  };
  const r = test.data;
  return (
    <Card withBorder radius="sm" padding="md" bg="var(--mantine-color-gray-0)" data-testid="rule-tester">
      <Group gap={6} mb="xs"><IconFlask size={16} /><Text fw={600} size="sm">Test a rule against a sample file</Text></Group>
      <Text size="xs" c="dimmed" mb="sm">The file is read on the server for its header only; it is neither stored nor logged.</Text>
      <Group align="flex-end">
        <TextInput label="Rule to test" styles={MONO} flex={1} value={expression} onChange={(e) => setExpression(e.currentTarget.value)} placeholder='Modality == "MR"' />
        <FileInput label="Sample DICOM file" placeholder="Choose a file" w={260} value={file} onChange={setFile} leftSection={<IconFileSearch size={16} />} clearable />
        <Button onClick={() => void run()} disabled={!file || !expression.trim()} loading={test.isPending}>Test</Button>
      </Group>
      <ErrorAlert error={test.error} title="Could not test the rule" />
      {r && !r.ok && (
        <Alert color="red" mt="sm" title={r.error.column ? "The rule does not parse" : "The file cannot be read"} data-testid="rule-test-result">
          <Text size="sm">{r.error.message}</Text>
          {r.error.column !== null && <Caret expression={expression} column={r.error.column} />}
        </Alert>
      )}
      {r && r.ok && (
        <Stack gap="xs" mt="sm" data-testid="rule-test-result">
          <Group gap="xs">
            <Badge size="lg" color={r.matched ? "teal" : "gray"}>{r.matched ? "Match" : "No match"}</Badge>
            <Text size="sm" c="dimmed">{r.matched ? "An instance like this would be accepted by this rule." : "This rule would not accept an instance like this."}</Text>
          </Group>
          <Table fz="sm" withTableBorder>
            <Table.Thead><Table.Tr><Table.Th>Attribute</Table.Th><Table.Th>Tag</Table.Th><Table.Th>Value in the sample</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {r.used.map((u) => (
                <Table.Tr key={u.tag}>
                  <Table.Td>{u.keyword}</Table.Td>
                  <Table.Td ff="monospace">{u.tag}</Table.Td>
                  <Table.Td>{u.present ? <Code>{u.value}</Code> : <Text size="sm" c="dimmed">absent (empty)</Text>}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Stack>
      )}
    </Card>
  );
}

/** Whether site admins enabled this project for the site AE title: only then do its rules route site traffic here. */
function SiteRoutingStatus({ projectId, siteAeTitle }: { projectId: string; siteAeTitle: string }) {
  const trpc = useTRPC();
  const status = useQuery(trpc.rules.siteRouting.queryOptions({ projectId }, { refetchInterval: 30_000 }));
  if (!status.data) return <ErrorAlert error={status.error} title="Could not load the site routing status" />;
  const s = status.data;
  return s.enabled ? (
    <Alert color="teal" variant="light" mb="sm" icon={<IconRoute size={18} />} title="Enabled for site routing" data-testid="site-routing-status">
      Instances sent to the site AE title <Code>{s.siteAeTitle}</Code> come here when one of these rules matches. Site administrators set the
      order in which projects are tried: this project is number {s.position} of {s.of}; projects before it take what their rules match first.
    </Alert>
  ) : (
    <Alert color="gray" variant="light" mb="sm" icon={<IconRoute size={18} />} title="Not enabled for site routing" data-testid="site-routing-status">
      These rules are not consulted for what is sent to the site AE title <Code>{siteAeTitle}</Code>: site administrators decide which projects
      take part in site routing, and in what order. Ask one to enable this project if scanners should reach it through the site AE title.
    </Alert>
  );
}

export function RoutingRulesPanel({ projectId, isOwner, siteAeTitle }: { projectId: string; isOwner: boolean; siteAeTitle: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const rules = useQuery(trpc.rules.list.queryOptions({ projectId }, { refetchInterval: 15_000 }));
  const [editing, setEditing] = useState<string | null>(null);
  const [expression, setExpression] = useState("");
  const [description, setDescription] = useState("");
  const [testExpression, setTestExpression] = useState("");
  const [help, setHelp] = useState(false);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.rules.list.queryKey({ projectId }) });
  const resetForm = () => {
    setEditing(null);
    setExpression("");
    setDescription("");
  };
  const onError = (title: string) => (e: { message: string }) => notifications.show({ color: "red", title, message: e.message });
  // The first enabled rule changes what the project accepts: the server refuses it (PRECONDITION_FAILED)
  // until the owner confirmed here, with what it will do.
  const [firstRule, setFirstRule] = useState<
    | { kind: "create"; message: string; vars: { projectId: string; expression: string; description: string } }
    | { kind: "enable"; message: string; vars: { projectId: string; ruleId: string; enabled: true } }
    | null
  >(null);
  const needsConfirmation = (e: unknown) => (e as { data?: { code?: string } | null }).data?.code === "PRECONDITION_FAILED";
  const create = useMutation(
    trpc.rules.create.mutationOptions({
      onSuccess: async () => { resetForm(); setFirstRule(null); await refresh(); },
      onError: (e, v) => { if (needsConfirmation(e)) setFirstRule({ kind: "create", message: e.message, vars: { projectId: v.projectId, expression: v.expression, description: v.description ?? "" } }); },
    }),
  );
  const update = useMutation(trpc.rules.update.mutationOptions({ onSuccess: async () => { resetForm(); await refresh(); } }));
  const toggle = useMutation(
    trpc.rules.update.mutationOptions({
      onSuccess: async () => { setFirstRule(null); await refresh(); },
      onError: (e, v) => {
        if (needsConfirmation(e)) setFirstRule({ kind: "enable", message: e.message, vars: { projectId: v.projectId, ruleId: v.ruleId, enabled: true } });
        else onError("Not changed")(e);
      },
    }),
  );
  const reorder = useMutation(trpc.rules.reorder.mutationOptions({ onSuccess: refresh, onError: onError("Not reordered") }));
  const remove = useMutation(trpc.rules.remove.mutationOptions({ onSuccess: refresh, onError: onError("Not deleted") }));
  const list = rules.data ?? [];
  const formErrorOf = editing ? update.error : create.error && !needsConfirmation(create.error) ? create.error : null;
  const formError = formErrorOf?.message.replace(/^expression: /, "");
  // The caret points into the expression that was refused, not into what has been typed since.
  const submittedExpression = (editing ? update.variables : create.variables)?.expression;
  const move = (i: number, by: number) => {
    const ids = list.map((r) => r.id);
    const [id] = ids.splice(i, 1);
    ids.splice(i + by, 0, id!);
    reorder.mutate({ projectId, ruleIds: ids });
  };
  const enabledCount = list.filter((r) => r.enabled).length;
  return (
    <Card withBorder radius="md" padding="lg" data-testid="routing-rules">
      <Group justify="space-between" mb={4}>
        <Title order={5}>Routing rules</Title>
        <Anchor component="button" size="sm" onClick={() => setHelp((h) => !h)}>{help ? "Hide syntax" : "Syntax and examples"}</Anchor>
      </Group>
      <Text size="sm" c="dimmed" mb="sm">
        {enabledCount
          ? "Only instances that match an enabled rule are accepted; the others wait in quarantine. "
          : "No enabled rules: everything sent to this project is accepted. "}
        These rules also apply to what arrives through this project&apos;s own AE titles, tokens, webhooks and uploads.
      </Text>
      <SiteRoutingStatus projectId={projectId} siteAeTitle={siteAeTitle} />
      <Collapse expanded={help}><Card withBorder radius="sm" mb="sm" padding="sm"><SyntaxHelp /></Card></Collapse>
      <ErrorAlert error={rules.error} title="Could not load the rules" />
      <Table verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            <Table.Th w={40}>#</Table.Th>
            <Table.Th>Rule</Table.Th>
            <Table.Th w={90}>Enabled</Table.Th>
            {isOwner && <Table.Th w={150} />}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {!rules.isPending && list.length === 0 && (
            <Table.Tr><Table.Td colSpan={4}><Text size="sm" c="dimmed">No routing rules{isOwner ? ": add one below." : "."}</Text></Table.Td></Table.Tr>
          )}
          {list.map((r, i) => (
            <Table.Tr key={r.id} opacity={r.enabled ? 1 : 0.6}>
              <Table.Td>{i + 1}</Table.Td>
              <Table.Td>
                <Code>{r.expression}</Code>
                {r.description && <Text size="xs" c="dimmed" mt={2}>{r.description}</Text>}
              </Table.Td>
              <Table.Td>
                <Switch
                  aria-label={`Rule ${i + 1} enabled`}
                  checked={r.enabled}
                  disabled={!isOwner}
                  onChange={(e) => toggle.mutate({ projectId, ruleId: r.id, enabled: e.currentTarget.checked })}
                />
              </Table.Td>
              {isOwner && (
                <Table.Td>
                  <Group gap={2} wrap="nowrap" justify="flex-end">
                    <Tooltip label="Move up"><ActionIcon variant="subtle" aria-label={`Move rule ${i + 1} up`} disabled={i === 0} onClick={() => move(i, -1)}><IconArrowUp size={16} /></ActionIcon></Tooltip>
                    <Tooltip label="Move down"><ActionIcon variant="subtle" aria-label={`Move rule ${i + 1} down`} disabled={i === list.length - 1} onClick={() => move(i, 1)}><IconArrowDown size={16} /></ActionIcon></Tooltip>
                    <Tooltip label="Test against a sample"><ActionIcon variant="subtle" aria-label={`Test rule ${i + 1}`} onClick={() => setTestExpression(r.expression)}><IconFlask size={16} /></ActionIcon></Tooltip>
                    <Tooltip label="Edit"><ActionIcon variant="subtle" aria-label={`Edit rule ${i + 1}`} onClick={() => { setEditing(r.id); setExpression(r.expression); setDescription(r.description); }}><IconPencil size={16} /></ActionIcon></Tooltip>
                    <Tooltip label="Delete">
                      <ActionIcon
                        variant="subtle"
                        color="red"
                        aria-label={`Delete rule ${i + 1}`}
                        onClick={() => window.confirm(`Delete rule ${i + 1}? ${r.expression}`) && remove.mutate({ projectId, ruleId: r.id })}
                      >
                        <IconTrash size={16} />
                      </ActionIcon>
                    </Tooltip>
                  </Group>
                </Table.Td>
              )}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {isOwner && (
        <Stack gap="md" mt="md">
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (editing) update.mutate({ projectId, ruleId: editing, expression, description });
              else create.mutate({ projectId, expression, description });
            }}
          >
            <Group align="flex-start">
              <TextInput
                label={editing ? "Edit rule" : "New rule"}
                placeholder='Modality == "MR" && StudyDescription ~ /brain/i'
                styles={MONO}
                flex={2}
                value={expression}
                onChange={(e) => { setExpression(e.currentTarget.value); setTestExpression(e.currentTarget.value); }}
                error={formError && <FormError message={formError} expression={submittedExpression ?? expression} />}
              />
              <TextInput label="Description (optional)" flex={1} value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
              <Group mt={24} gap="xs">
                <Button type="submit" leftSection={editing ? undefined : <IconPlus size={16} />} loading={create.isPending || update.isPending}>
                  {editing ? "Save rule" : "Add rule"}
                </Button>
                {editing && <Button variant="default" onClick={resetForm}>Cancel</Button>}
              </Group>
            </Group>
          </form>
          <RuleTester projectId={projectId} expression={testExpression} setExpression={setTestExpression} />
        </Stack>
      )}
      <Modal opened={firstRule !== null} onClose={() => setFirstRule(null)} title={<Text fw={600}>Accept only matching instances?</Text>} centered size="lg">
        <Stack gap="sm" data-testid="first-rule-confirm">
          <Text size="sm">{firstRule?.message}</Text>
          <Text size="sm">
            Now: every instance sent to this project is accepted. After:{" "}
            {firstRule?.kind === "create" ? <Code>{firstRule.vars.expression}</Code> : "this rule"} decides; instances it does not match wait in the
            Quarantine tab with the reason &quot;No routing rule matched&quot;.
          </Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setFirstRule(null)}>Cancel</Button>
            {firstRule?.kind === "create" && (
              <Button variant="default" onClick={() => create.mutate({ ...firstRule.vars, enabled: false })}>Add it disabled</Button>
            )}
            <Button
              loading={create.isPending || toggle.isPending}
              onClick={() => {
                if (firstRule?.kind === "create") create.mutate({ ...firstRule.vars, acceptOnlyMatching: true });
                else if (firstRule?.kind === "enable") toggle.mutate({ ...firstRule.vars, acceptOnlyMatching: true });
              }}
            >
              Accept only matching instances
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Card>
  );
}
