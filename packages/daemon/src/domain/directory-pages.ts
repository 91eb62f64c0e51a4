// Page sizes of directory listings (F11 of the second security round): no listing answers more
// than one page, so a directory of any size costs the daemon at most MAX_PAGE_ENTRIES entries.
export const DEFAULT_PAGE_ENTRIES = 1000;
export const MAX_PAGE_ENTRIES = 10_000;
