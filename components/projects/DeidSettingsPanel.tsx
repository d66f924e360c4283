"use client";
// De-identification settings of a project (owners): the PS3.15 Basic profile with options, or a
// CTP anonymizer script (pasted or uploaded) applied instead. The server validates both and says
// what is wrong.
import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Alert, Button, Card, Checkbox, Code, FileInput, Group, SegmentedControl, SimpleGrid, Stack, Text, Textarea, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconFileCode } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";

interface Props {
  projectId: string;
  deidProfile: string;
  deidScript: string | null;
  profileOptions: { id: string; meaning: string }[];
}

function optionsOf(spec: string, known: { id: string }[]): string[] {
  const parts = spec.split("+").slice(1).map((p) => p.trim().replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()).toLowerCase());
  return known.filter((o) => parts.includes(o.id.toLowerCase())).map((o) => o.id);
}

export function DeidSettingsPanel({ projectId, deidProfile, deidScript, profileOptions }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [mode, setMode] = useState<"profile" | "script">(deidScript ? "script" : "profile");
  const [options, setOptions] = useState<string[]>(optionsOf(deidProfile, profileOptions));
  const [script, setScript] = useState(deidScript ?? "");
  const save = useMutation(
    trpc.intake.updateSettings.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: "teal", title: "Saved", message: r.changed.length ? "De-identification settings updated; they apply to instances received from now on." : "Nothing changed." });
        await queryClient.invalidateQueries({ queryKey: trpc.intake.settings.queryKey({ projectId }) });
      },
    }),
  );
  const spec = ["basic", ...options].join("+");
  const loadFile = async (f: File | null) => {
    if (f) setScript(await f.text());
  };
  const error = save.error?.message.replace(/^deid(Profile|Script): /, "");
  return (
    <Card withBorder radius="md" padding="lg" data-testid="deid-settings">
      <Group justify="space-between" mb="xs">
        <Title order={5}>De-identification</Title>
        <Text size="sm" c="dimmed">
          Now: {deidScript ? <>CTP script ({deidScript.length.toLocaleString()} characters)</> : <>profile <Code>{deidProfile}</Code></>}
        </Text>
      </Group>
      <SegmentedControl
        mb="md"
        value={mode}
        onChange={(v) => setMode(v as "profile" | "script")}
        data={[
          { value: "profile", label: "PS3.15 profile" },
          { value: "script", label: "CTP anonymizer script" },
        ]}
      />
      {mode === "profile" ? (
        <Stack gap="sm">
          <Text size="sm">The Basic Application Level Confidentiality Profile, with these options:</Text>
          <Checkbox.Group value={options} onChange={setOptions}>
            <SimpleGrid cols={{ base: 1, sm: 2 }} spacing={6}>
              {profileOptions.map((o) => <Checkbox key={o.id} value={o.id} label={o.meaning} />)}
            </SimpleGrid>
          </Checkbox.Group>
          <Text size="xs" c="dimmed">Profile: <Code>{spec}</Code></Text>
          {deidScript && <Alert color="yellow">Saving the profile removes the CTP script; the profile applies instead.</Alert>}
          {error && <Alert color="red" title="Not saved">{error}</Alert>}
          <Group>
            <Button onClick={() => save.mutate({ projectId, deidProfile: spec, ...(deidScript ? { deidScript: null } : {}) })} loading={save.isPending}>Save profile</Button>
          </Group>
        </Stack>
      ) : (
        <Stack gap="sm">
          <Text size="sm">A CTP DicomAnonymizer script (XML or properties) applied instead of the profile. Paste it or upload the file.</Text>
          <FileInput label="Upload a script" placeholder="anonymizer.script" w={320} leftSection={<IconFileCode size={16} />} onChange={(f) => void loadFile(f)} clearable />
          <Textarea
            label="Script"
            ff="monospace"
            autosize
            minRows={6}
            maxRows={18}
            value={script}
            onChange={(e) => setScript(e.currentTarget.value)}
            placeholder={'<script>\n  <e en="T" t="00100010" n="PatientName">@empty()</e>\n</script>'}
            error={error}
          />
          <Group>
            <Button onClick={() => save.mutate({ projectId, deidScript: script })} loading={save.isPending}>Save script</Button>
            {deidScript && (
              <Button variant="default" color="red" onClick={() => window.confirm("Remove the script? The profile applies again.") && save.mutate({ projectId, deidScript: null })}>
                Remove script
              </Button>
            )}
          </Group>
        </Stack>
      )}
    </Card>
  );
}
