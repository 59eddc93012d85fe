import { readdir } from 'node:fs/promises';

/** The cached OS template suffixes vzctl create looks for, longest first so `.tar` matches last. */
export const TEMPLATE_SUFFIXES = ['.tar.bz2', '.tar.gz', '.tar.xz', '.tar'] as const;

/** `debian-12.tar.gz` → `debian-12`; null for a file that is no template tarball. */
export function templateName(fileName: string): string | null {
  for (const suffix of TEMPLATE_SUFFIXES) {
    if (fileName.endsWith(suffix) && fileName.length > suffix.length) {
      return fileName.slice(0, -suffix.length);
    }
  }
  return null;
}

/**
 * The template names in vzctl's cache directory, sorted and without duplicates (one template
 * may be cached in two compressions). A missing directory holds no templates.
 */
export async function listTemplates(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw error;
  }
  const names = new Set<string>();

  for (const entry of entries) {
    const usable = entry.isFile() || entry.isSymbolicLink();
    const name = usable ? templateName(entry.name) : null;
    if (name !== null && !name.startsWith('.')) {
      names.add(name);
    }
  }
  return [...names].sort();
}
