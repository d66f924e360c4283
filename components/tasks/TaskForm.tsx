"use client";
// A template context's form: the questions of lib/tasks/template.ts as inputs, with showIf applied
// as the reader answers and each field's error (lib/tasks/answers.ts validateSubmission, the same
// function the server runs) under it.
import { Checkbox, Group, NumberInput, Radio, SegmentedControl, Stack, Text, TextInput, Textarea } from "@mantine/core";
import type { AnswerValue } from "@/lib/tasks/answers";
import type { Question } from "@/lib/tasks/template";

export function TaskForm(props: {
  questions: Question[];
  answers: Record<string, AnswerValue>;
  visible: Set<string>;
  errors: Record<string, string>;
  readOnly?: boolean;
  onChange: (id: string, v: AnswerValue) => void;
}) {
  const { questions, answers, visible, errors, readOnly = false, onChange } = props;
  return (
    <Stack gap="md" data-testid="task-form">
      {questions.filter((q) => visible.has(q.id)).map((q) => (
        <div key={q.id} data-question={q.id}>
          <QuestionInput q={q} value={answers[q.id]} error={errors[q.id]} readOnly={readOnly} onChange={(v) => onChange(q.id, v)} />
        </div>
      ))}
      {questions.length === 0 && <Text size="sm" c="dimmed">This step asks no questions.</Text>}
    </Stack>
  );
}

function QuestionInput({ q, value, error, readOnly, onChange }: { q: Question; value: AnswerValue | undefined; error?: string; readOnly: boolean; onChange: (v: AnswerValue) => void }) {
  const label = q.label;
  const common = { label, description: q.help, required: q.required, error, disabled: readOnly };
  switch (q.type) {
    case "single":
      return (
        <Radio.Group {...common} value={typeof value === "string" ? value : null} onChange={(v) => onChange(v)}>
          <Stack gap={6} mt={6}>{q.options.map((o) => <Radio key={o.value} value={o.value} label={o.label ?? o.value} disabled={readOnly} />)}</Stack>
        </Radio.Group>
      );
    case "multiple":
      return (
        <Checkbox.Group {...common} value={Array.isArray(value) ? value : []} onChange={(v) => onChange(v)}>
          <Stack gap={6} mt={6}>{q.options.map((o) => <Checkbox key={o.value} value={o.value} label={o.label ?? o.value} disabled={readOnly} />)}</Stack>
        </Checkbox.Group>
      );
    case "number":
    case "integer":
      return (
        <NumberInput
          {...common}
          value={typeof value === "number" ? value : ""}
          min={q.min}
          max={q.max}
          allowDecimal={q.type === "number"}
          rightSection={q.unit ? <Text size="xs" c="dimmed">{q.unit}</Text> : undefined}
          onChange={(v) => onChange(v === "" ? null : typeof v === "number" ? v : Number(v))}
        />
      );
    case "text":
      return q.multiline ? (
        <Textarea {...common} autosize minRows={2} maxRows={8} maxLength={q.maxLength} value={typeof value === "string" ? value : ""} onChange={(e) => onChange(e.currentTarget.value)} />
      ) : (
        <TextInput {...common} maxLength={q.maxLength} value={typeof value === "string" ? value : ""} onChange={(e) => onChange(e.currentTarget.value)} />
      );
    case "boolean":
      return (
        <Radio.Group {...common} value={value === true ? "yes" : value === false ? "no" : null} onChange={(v) => onChange(v === "yes")}>
          <Group gap="md" mt={6}><Radio value="yes" label="Yes" disabled={readOnly} /><Radio value="no" label="No" disabled={readOnly} /></Group>
        </Radio.Group>
      );
    case "likert":
      return (
        <div>
          <Text size="sm" fw={500}>{label}{q.required && <Text span c="red"> *</Text>}</Text>
          {q.help && <Text size="xs" c="dimmed">{q.help}</Text>}
          <SegmentedControl
            mt={6}
            fullWidth
            disabled={readOnly}
            aria-label={label}
            value={typeof value === "number" ? String(value) : ""}
            onChange={(v) => onChange(Number(v))}
            data={Array.from({ length: q.points }, (_, i) => ({ value: String(i + 1), label: String(i + 1) }))}
          />
          {(q.minLabel || q.maxLabel) && <Group justify="space-between"><Text size="xs" c="dimmed">{q.minLabel}</Text><Text size="xs" c="dimmed">{q.maxLabel}</Text></Group>}
          {error && <Text size="xs" c="red">{error}</Text>}
        </div>
      );
    case "date":
      return <TextInput {...common} type="date" min={q.min} max={q.max} value={typeof value === "string" ? value : ""} onChange={(e) => onChange(e.currentTarget.value || null)} />;
  }
}
