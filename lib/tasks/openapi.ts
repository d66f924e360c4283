// The OpenAPI 3.1 document of the task API (/api/v1), served at /api/v1/openapi.json. External
// viewers depend on these paths: keep them stable.
const err = { description: "Error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
const errors = { "400": err, "401": err, "403": err, "404": err, "409": err };
const submission = { content: { "application/json": { schema: { $ref: "#/components/schemas/Submission" } } } };
const taskId = [{ name: "id", in: "path", required: true, schema: { type: "string" } }];
const projectId = [{ name: "projectId", in: "path", required: true, schema: { type: "string" } }];
const ok = (description: string, schema: object = { type: "object" }) => ({ description, content: { "application/json": { schema } } });

export const TASK_API_OPENAPI = {
  openapi: "3.1.0",
  info: { title: "Atrium task API", version: "1.0.0", description: "Tasks of the Task Supervisor for the portal's task page and external viewers. Authenticate with the portal's session cookie or a personal API token (Authorization: Bearer atu_…)." },
  servers: [{ url: "/" }],
  security: [{ bearer: [] }, { session: [] }],
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A personal API token atu_…" }, session: { type: "apiKey", in: "cookie", name: "authjs.session-token" } },
    schemas: {
      Error: { type: "object", required: ["error"], properties: { error: { type: "string" }, fieldErrors: { type: "array", items: { type: "object", properties: { field: { type: "string" }, message: { type: "string" } } } } } },
      Annotation: { type: "object", required: ["id", "context", "tool"], properties: { id: { type: "string" }, context: { type: "string" }, tool: { type: "string" }, label: { type: "string" }, viewport: { type: "string" }, seriesInstanceUid: { type: "string" }, sopInstanceUid: { type: "string" }, frame: { type: "integer" }, points: { type: "array", items: { type: "array", items: { type: "number" }, minItems: 3, maxItems: 3 } }, data: { type: "object" } } },
      Submission: { type: "object", properties: { answers: { type: "object", additionalProperties: true }, annotations: { type: "array", items: { $ref: "#/components/schemas/Annotation" } }, elapsedMs: { type: "integer", minimum: 0 } } },
      TaskSummary: { type: "object", properties: { id: { type: "string" }, number: { type: "integer" }, projectId: { type: "string" }, groupId: { type: ["string", "null"] }, kind: { enum: ["read", "adjudication"] }, state: { enum: ["queued", "locked", "submitted", "done", "skipped", "aborted", "cannot_be_done"] }, lockExpiresAt: { type: ["string", "null"], format: "date-time" } } },
    },
  },
  paths: {
    "/api/v1/openapi.json": { get: { summary: "This document", security: [], responses: { "200": ok("OpenAPI document") } } },
    "/api/v1/tasks": { get: { summary: "My tasks (held, assigned or done by me)", parameters: [{ name: "mine", in: "query", required: true, schema: { const: "1" } }, { name: "state", in: "query", schema: { type: "string" } }], responses: { "200": ok("Tasks", { type: "object", properties: { tasks: { type: "array", items: { $ref: "#/components/schemas/TaskSummary" } } } }), ...errors } } },
    "/api/v1/projects/{projectId}/tasks/next": { post: { summary: "Take the next task: locked to me", parameters: projectId, requestBody: { content: { "application/json": { schema: { type: "object", properties: { groupId: { type: "string" } } } } } }, responses: { "200": ok("The task locked to me", { type: "object", properties: { id: { type: "string" }, groupId: { type: "string" }, lockExpiresAt: { type: "string", format: "date-time" }, url: { type: "string" }, page: { type: "string" } } }), "204": { description: "No task left for me" }, ...errors } } },
    "/api/v1/projects/{projectId}/task-groups": { post: { summary: "Create a task group (owners)", parameters: projectId, requestBody: { content: { "application/json": { schema: { type: "object", required: ["label"], properties: { label: { type: "string" }, template: { type: "string", description: "template name" }, templateId: { type: "string" }, experimentIds: { type: "array", items: { type: "string" } }, query: { type: "object", properties: { modality: { type: "string" }, labelContains: { type: "string" } } }, readersPerCase: { type: "integer", minimum: 1, maximum: 10 }, distribution: { enum: ["pool", "balanced", "same", "unique"] }, pool: { type: "array", items: { type: "object", properties: { userId: { type: "string" }, weight: { type: "number" } } } }, dueAt: { type: "string", format: "date-time" }, lockMinutes: { type: "integer" } } } } } }, responses: { "201": ok("Created", { type: "object", properties: { groupId: { type: "string" }, tasks: { type: "integer" } } }), ...errors } } },
    "/api/v1/tasks/{id}": { get: { summary: "A task: template, data references (DICOMweb URLs of its scans), my draft", parameters: taskId, responses: { "200": ok("The task"), ...errors } } },
    "/api/v1/tasks/{id}/draft": { put: { summary: "Save my draft (takes or renews the lock)", parameters: taskId, requestBody: submission, responses: { "200": ok("Lock", { type: "object", properties: { lockExpiresAt: { type: "string", format: "date-time" } } }), ...errors } } },
    "/api/v1/tasks/{id}/submit": { post: { summary: "Submit answers and annotations (validated by the template)", parameters: taskId, requestBody: submission, responses: { "200": ok("Stored", { type: "object", properties: { version: { type: "integer" }, state: { type: "string" }, adjudicationId: { type: ["string", "null"] } } }), ...errors } } },
    "/api/v1/tasks/{id}/release": { post: { summary: "Give the task back to the pool", parameters: taskId, responses: { "200": ok("Released"), ...errors } } },
    "/api/v1/tasks/{id}/skip": { post: { summary: "Skip with a reason", parameters: taskId, requestBody: { content: { "application/json": { schema: { type: "object", required: ["reason"], properties: { reason: { type: "string" } } } } } }, responses: { "200": ok("Skipped"), ...errors } } },
  },
} as const;
