// Bounds-checked reads of a FlatBuffer's tables, vtables, vectors and strings, for untrusted input.
// The flatbuffers JS runtime verifies nothing: a corrupt offset makes it read garbage or throw a
// RangeError. These readers check each step the way flatc's C++ Verifier does, for the paths the
// decoder follows (root -> Frame -> message -> vector / string / struct), so a frame either decodes
// or is refused, and nothing is read outside `view`.
//
// Readers return positions or lengths as numbers, with MALFORMED (-1) for a structural error, so
// the decoder allocates nothing until it knows the frame is sound. A field position of ABSENT (0)
// means "not present, use the default": no field can live at position 0, which holds the root
// offset.

export const MALFORMED = -1;
export const ABSENT = 0;

const SOFFSET_SIZE_BYTES = 4;
const UOFFSET_SIZE_BYTES = 4;
const VTABLE_HEADER_BYTES = 4; // u16 vtable size, u16 table (inline object) size
const VOFFSET_SIZE_BYTES = 2;

// The vtable position of the table at `table_pos`, or MALFORMED. Checks the table's soffset, that
// the vtable and the table's inline bytes (as the vtable sizes them) lie inside the buffer.
export function table_vtable(view: DataView, table_pos: number): number {
  if (table_pos % SOFFSET_SIZE_BYTES !== 0) return MALFORMED;
  if (table_pos + SOFFSET_SIZE_BYTES > view.byteLength) return MALFORMED;
  const vtable_pos = table_pos - view.getInt32(table_pos, true);
  if (vtable_pos < 0) return MALFORMED;
  if (vtable_pos % VOFFSET_SIZE_BYTES !== 0) return MALFORMED;
  if (vtable_pos + VTABLE_HEADER_BYTES > view.byteLength) return MALFORMED;
  const vtable_size_bytes = view.getUint16(vtable_pos, true);
  if (vtable_size_bytes < VTABLE_HEADER_BYTES) return MALFORMED;
  if (vtable_size_bytes % VOFFSET_SIZE_BYTES !== 0) return MALFORMED;
  if (vtable_pos + vtable_size_bytes > view.byteLength) return MALFORMED;
  const object_size_bytes = view.getUint16(vtable_pos + 2, true);
  if (object_size_bytes < SOFFSET_SIZE_BYTES) return MALFORMED;
  if (table_pos + object_size_bytes > view.byteLength) return MALFORMED;
  return vtable_pos;
}

// The position of field `field_index` (of `size_bytes`) of a table checked by table_vtable: ABSENT
// when the vtable has no entry for it (an older writer, or a default value left out), MALFORMED
// when the entry points outside the table's inline bytes.
export function field_pos(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
  field_index: number,
  size_bytes: number,
): number {
  const entry_offset = VTABLE_HEADER_BYTES + field_index * VOFFSET_SIZE_BYTES;
  if (entry_offset + VOFFSET_SIZE_BYTES > view.getUint16(vtable_pos, true)) return ABSENT;
  const field_offset = view.getUint16(vtable_pos + entry_offset, true);
  if (field_offset === 0) return ABSENT;
  if (field_offset < SOFFSET_SIZE_BYTES) return MALFORMED;
  if (field_offset + size_bytes > view.getUint16(vtable_pos + 2, true)) return MALFORMED;
  return table_pos + field_offset;
}

// The target of the uoffset stored at `pos` (a checked field position, or 0 for the root), or
// MALFORMED. Every target (table, vector, string) starts with 4 bytes and is 4-aligned.
export function follow_offset(view: DataView, pos: number): number {
  if (pos % UOFFSET_SIZE_BYTES !== 0) return MALFORMED;
  const target_pos = pos + view.getUint32(pos, true);
  if (target_pos % UOFFSET_SIZE_BYTES !== 0) return MALFORMED;
  if (target_pos + UOFFSET_SIZE_BYTES > view.byteLength) return MALFORMED;
  return target_pos;
}

// The element count of the vector at `vector_pos` (from follow_offset), or MALFORMED when its
// elements do not fit the buffer. Elements start at vector_pos + 4.
export function vector_length(
  view: DataView,
  vector_pos: number,
  element_size_bytes: number,
): number {
  const count = view.getUint32(vector_pos, true);
  const end_pos = vector_pos + UOFFSET_SIZE_BYTES + count * element_size_bytes;
  if (end_pos > view.byteLength) return MALFORMED;
  return count;
}

// The byte length of the string at `string_pos` (from follow_offset), or MALFORMED when its bytes
// and NUL terminator do not fit the buffer or the terminator is missing.
export function string_length(view: DataView, string_pos: number): number {
  const length_bytes = view.getUint32(string_pos, true);
  const end_pos = string_pos + UOFFSET_SIZE_BYTES + length_bytes;
  if (end_pos + 1 > view.byteLength) return MALFORMED;
  if (view.getUint8(end_pos) !== 0) return MALFORMED;
  return length_bytes;
}

// --- Scalar fields: the value, the schema default when absent, or MALFORMED
// ------------------------ (every unsigned value up to 32 bits is >= 0, so MALFORMED cannot be
// mistaken for one)

export function u8_field(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
  field_index: number,
  default_value: number,
): number {
  const pos = field_pos(view, table_pos, vtable_pos, field_index, 1);
  if (pos === ABSENT) return default_value;
  if (pos === MALFORMED) return MALFORMED;
  return view.getUint8(pos);
}

export function u16_field(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
  field_index: number,
  default_value: number,
): number {
  const pos = field_pos(view, table_pos, vtable_pos, field_index, 2);
  if (pos === ABSENT) return default_value;
  if (pos === MALFORMED) return MALFORMED;
  return view.getUint16(pos, true);
}

export function u32_field(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
  field_index: number,
  default_value: number,
): number {
  const pos = field_pos(view, table_pos, vtable_pos, field_index, 4);
  if (pos === ABSENT) return default_value;
  if (pos === MALFORMED) return MALFORMED;
  return view.getUint32(pos, true);
}

// 64-bit fields come back as BigInt (off the hot path: request ids, message fields), null when
// MALFORMED. Every 64-bit field of the schema defaults to 0.
export function u64_field(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
  field_index: number,
): bigint | null {
  const pos = field_pos(view, table_pos, vtable_pos, field_index, 8);
  if (pos === ABSENT) return 0n;
  if (pos === MALFORMED) return null;
  return view.getBigUint64(pos, true);
}

export function i64_field(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
  field_index: number,
): bigint | null {
  const pos = field_pos(view, table_pos, vtable_pos, field_index, 8);
  if (pos === ABSENT) return 0n;
  if (pos === MALFORMED) return null;
  return view.getBigInt64(pos, true);
}

const text_decoder = new TextDecoder();

// A string field as text ("" when absent), or null when MALFORMED. Invalid UTF-8 decodes to U+FFFD:
// the strings (tokens, messages) are checked for meaning by whoever reads them.
export function string_field(
  view: DataView,
  table_pos: number,
  vtable_pos: number,
  field_index: number,
): string | null {
  const pos = field_pos(view, table_pos, vtable_pos, field_index, UOFFSET_SIZE_BYTES);
  if (pos === ABSENT) return "";
  if (pos === MALFORMED) return null;
  const string_pos = follow_offset(view, pos);
  if (string_pos === MALFORMED) return null;
  const length_bytes = string_length(view, string_pos);
  if (length_bytes === MALFORMED) return null;
  const start = view.byteOffset + string_pos + UOFFSET_SIZE_BYTES;
  return text_decoder.decode(new Uint8Array(view.buffer, start, length_bytes));
}
