// The default workflow (issue #16), the same text as workflows/default.yaml (a test keeps them
// equal): installed in the DEMO project by `atrium seed-demo`, and shown as the starting point.
export const DEFAULT_WORKFLOW_YAML = `# Atrium's default workflow: received → archived → processed → QC task → done, with a QC-failed branch.
label: atrium_default
states:
  - label: received
    freetext: Received by intake
    transitions:
      - {destination: archived, condition: "experiment.archived"}
  - label: archived
    freetext: In the project archive
    # default_processing is built in (what each series holds; Node only): registered in the project on first use.
    callbacks:
      - label: process
        function: fastr
        run_timeout: 240
        callback_arguments: {network_id: default_processing}
    transitions:
      - {destination: processed, condition: "callbacks['process'].result == 'success'"}
      - {destination: processing_failed}
  - label: processed
    freetext: Processing finished
    transitions: [{destination: qc}]
  - label: qc
    freetext: Quality control task
    callbacks:
      - label: qc_task
        function: create_task
        wait_timeout: 10080
        variable_map: {qc_passed: /qc_passed, qc_task_uri: /task_uri}
        callback_arguments: {template: default_qc}
    transitions:
      - {destination: done, condition: "callbacks['qc_task'].result == 'success' and experiment.variables['qc_passed'] != False"}
      - {destination: qc_failed}
  # No automatic way back (a state without callbacks advances by itself, so an unconditional
  # transition back would retry for ever): an owner fixes the cause and forces the state again.
  - {label: processing_failed, freetext: Processing failed; an owner forces 'archived' again after fixing it}
  - {label: qc_failed, freetext: QC failed or timed out; an owner forces 'qc' again for a new QC task}
  - {label: done, freetext: Finished}
`;
