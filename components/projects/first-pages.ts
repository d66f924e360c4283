// The first page of the project's list tabs as each tab asks for it: the project page prefetches
// the one it opens on together with the project itself (issue #21: time to content).
export const QUARANTINE_PAGE = 100;
export const firstQuarantinePage = (projectId: string) => ({ projectId, sort: "newest" as const, limit: QUARANTINE_PAGE });
export const firstArchivePage = (projectId: string) => ({ projectId, sort: "newest" as const });
