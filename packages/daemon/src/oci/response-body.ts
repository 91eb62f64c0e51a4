// A registry answer's body read up to a cap, never further: a registry is a tenant's choice, and a
// hostile one may send an endless body where a small one (a manifest, an error) is expected.
/** The first `cap` bytes of the body at most; `over` when it had more (the rest is cancelled, not read). */
export async function readAtMost(res: Response, cap: number): Promise<{ data: Buffer; over: boolean }> {
  if (!res.body) return { data: Buffer.alloc(0), over: false };
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { data: Buffer.concat(parts), over: false };
      parts.push(value);
      size += value.length;
      if (size > cap) return { data: Buffer.concat(parts).subarray(0, cap), over: true };
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
