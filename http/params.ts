// Path parameters: partner ids are u32 (not 0), account and order ids u64, in decimal.

const U64_MAX = 2n ** 64n - 1n;

export function parse_partner(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return null;
  const partner = Number(text);
  return partner >= 1 && partner <= 0xffff_ffff ? partner : null;
}

export function parse_u64(text: string | undefined): bigint | null {
  if (text === undefined || !/^\d{1,20}$/.test(text)) return null;
  const value = BigInt(text);
  return value >= 1n && value <= U64_MAX ? value : null;
}

/** Bun's routes put path parameters on the request. */
export function params_of(req: Request): Record<string, string> {
  return (req as Request & { params?: Record<string, string> }).params ?? {};
}
