// The quality-control template `atrium seed-demo` installs in DEMO: one scan (the best image
// series), one step with a short form, so that a new user finds a task to do.
export const DEMO_QC_TEMPLATE_NAME = "scan-qc";

export const DEMO_QC_TEMPLATE = `# Quality control of one scan: is it usable for analysis?
schemaVersion: 1
title: Scan quality control
description: Look at the main series of the session and rate its quality.
instructions:
  markdown: |
    Scroll through the series. Mark **unusable** when motion, artefacts or a wrong field of view
    make it unfit for analysis, and say why.
estimatedMinutes: 2
scans:
  main:
    label: image series
    rules:
      - { attribute: numberOfSlices, min: 1, required: true }
      - { attribute: modality, oneOf: [MR, CT, PT], weight: 5 }
      - { attribute: numberOfSlices, min: 20, weight: 2 }
      - { attribute: seriesDescription, matches: "t1|mprage|flair|t2", weight: 1 }
contexts:
  - id: qc
    title: Quality
    layout:
      grid: 1x1
      viewports:
        - { id: main, scan: main }
    tools:
      - { type: length, hotkey: l }
    hotkeys: { s: save }
    form:
      - id: usable
        type: single
        label: Is the scan usable?
        required: true
        options:
          - { value: "yes", label: "Usable" }
          - { value: "borderline", label: "Borderline" }
          - { value: "no", label: "Unusable" }
      - id: reason
        type: multiple
        label: What is wrong?
        required: true
        showIf: { question: usable, oneOf: ["borderline", "no"] }
        options:
          - { value: motion, label: Motion }
          - { value: artefact, label: Artefact }
          - { value: coverage, label: Incomplete coverage }
          - { value: other, label: Other }
      - id: quality
        type: likert
        label: Overall image quality
        points: 5
        minLabel: poor
        maxLabel: excellent
      - id: comment
        type: text
        label: Comment
        multiline: true
`;

/** The task template the default workflow's `qc` state names (create_task template: default_qc). */
export const DEFAULT_WORKFLOW_QC_TEMPLATE_NAME = "default_qc";

/**
 * Created in a project the first time the default workflow asks for it; its `qc_passed` answer is
 * the variable the workflow's transition reads.
 */
export const DEFAULT_WORKFLOW_QC_TEMPLATE = `# Quality control for Atrium's default workflow: does the session pass?
schemaVersion: 1
title: Session quality control
description: Look at the main series of the session; say whether it passes quality control.
estimatedMinutes: 2
scans:
  main:
    label: image series
    rules:
      - { attribute: numberOfSlices, min: 1, required: true }
      - { attribute: modality, oneOf: [MR, CT, PT], weight: 5 }
      - { attribute: numberOfSlices, min: 20, weight: 2 }
contexts:
  - id: qc
    title: Quality
    layout:
      grid: 1x1
      viewports:
        - { id: main, scan: main }
    tools:
      - { type: length, hotkey: l }
    hotkeys: { s: save }
    form:
      - id: qc_passed
        type: boolean
        label: Does the session pass quality control?
        required: true
      - id: comment
        type: text
        label: Comment
        multiline: true
`;
