/** The Quarantine tab's first page as the tab asks for it: the project page prefetches it with the project itself. */
export const QUARANTINE_PAGE = 100;
export const firstQuarantinePage = (projectId: string) => ({ projectId, sort: "newest" as const, limit: QUARANTINE_PAGE });
