// The add/change forms of streams, models and pipelines: which fields each has, form values →
// the API's JSON body (only what the user filled in, typed), and where an API error goes (the
// field it names, else the form as a whole). Pure: the DOM side is in app.js.

// type: text | bool | int | number | list (comma-separated) | select(options)
export const FIELDS = {
  streams: [
    { name: 'name', type: 'text', required: true, fixed: true, hint: 'cam1 (letters, digits, _ . -)' },
    { name: 'url', type: 'text', required: true, hint: 'rtsp://user:pass@host/path, file path, test://ball' },
    { name: 'enabled', type: 'bool', default: true },
    { name: 'loop', type: 'bool', default: false },
    { name: 'tls_verify', type: 'bool', default: true },
  ],
  models: [
    { name: 'name', type: 'text', required: true, fixed: true },
    { name: 'kind', type: 'select', options: ['yolox', 'yolov8', 'torch_yolox', 'torch_yolov8', 'hog', 'fake'], required: true },
    { name: 'path', type: 'text', hint: 'ONNX file (yolox, yolov8); TorchScript (torch_*)' },
    { name: 'input_width', type: 'int', hint: '0 = the model\'s own' },
    { name: 'input_height', type: 'int' },
    { name: 'threads', type: 'int', hint: '0 = backend default' },
    { name: 'device', type: 'text', hint: 'cpu | cuda:N (empty = cpu; cuda:0 for torch_*)' },
    { name: 'class_names', type: 'list', hint: 'person, car, … (empty = the model\'s own)' },
  ],
  pipelines: [
    { name: 'name', type: 'text', required: true, fixed: true },
    { name: 'stream', type: 'text', required: true },
    { name: 'model', type: 'text', required: true },
    { name: 'sla', type: 'select', options: ['best_effort', 'critical'] },
    { name: 'min_score', type: 'number', hint: '0..1 (0.25)' },
    { name: 'iou', type: 'number', hint: '0..1 (0.45)' },
    { name: 'classes', type: 'list', hint: 'person, car (empty = all)' },
    { name: 'enabled', type: 'bool', default: true },
    { name: 'motion_gate', type: 'bool', default: false },
  ],
};

// The form's top-level field an API error path belongs to: "events.min_score" → "events",
// "classes[3]" → "classes", "url" → "url"; null when the error names none.
export function fieldOf(errorField) {
  if (!errorField) return null;
  const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(errorField);
  return m ? m[0] : null;
}

// Converts one raw form value (string, or boolean for checkboxes) to its JSON value;
// undefined means "not given" (left out of the body). Throws {field, message} for a value the
// page can tell is malformed before sending (the API checks everything else).
export function convert(field, raw) {
  if (field.type === 'bool') return Boolean(raw);
  const s = typeof raw === 'string' ? raw.trim() : '';
  if (s === '') return undefined;
  if (field.type === 'int') {
    if (!/^-?\d+$/.test(s)) throw { field: field.name, message: `${field.name}: a whole number, got '${s}'` };
    return Number.parseInt(s, 10);
  }
  if (field.type === 'number') {
    const n = Number(s);
    if (!Number.isFinite(n)) throw { field: field.name, message: `${field.name}: a number, got '${s}'` };
    return n;
  }
  if (field.type === 'list') return s.split(',').map((x) => x.trim()).filter(Boolean);
  return s;
}

// The body of a create (all given fields) or of a change (only the fields that differ from the
// record the form was filled from; a cleared optional field is null, which resets it).
export function bodyFrom(kind, values, original = null) {
  const body = {};
  for (const f of FIELDS[kind]) {
    const v = convert(f, values[f.name]);
    if (!original) {
      if (v !== undefined && !(f.type === 'bool' && v === f.default)) body[f.name] = v;
      continue;
    }
    if (f.fixed) continue;
    const before = original[f.name];
    if (f.name === 'motion_gate' && before && typeof before === 'object') {
      if (Boolean(before.enabled) !== v) body.motion_gate = v;
      continue;
    }
    if (v === undefined) {
      if (before !== undefined && before !== null && !(Array.isArray(before) && before.length === 0) && before !== '') body[f.name] = null;
      continue;
    }
    if (JSON.stringify(v) !== JSON.stringify(before)) body[f.name] = v;
  }
  return body;
}

// The form's text for a record's field (inverse of convert()).
export function displayValue(field, record) {
  const v = record ? record[field.name] : undefined;
  if (field.type === 'bool') {
    if (v && typeof v === 'object') return Boolean(v.enabled);
    return v === undefined || v === null ? field.default : Boolean(v);
  }
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.join(', ');
  return String(v);
}

// Where an ApiError is shown: {field: name or null, message}; a 409 says what to do.
export function placeError(kind, err) {
  const names = FIELDS[kind].map((f) => f.name);
  const top = fieldOf(err.field);
  const field = top && names.includes(top) ? top : null;
  let message = err.message;
  if (err.status === 409 && err.code === 'store.version_conflict') {
    message = `Someone changed this ${kind.slice(0, -1)} meanwhile: ${err.message}. Reload it to see their change; nothing was overwritten.`;
  }
  return { field, message, code: err.code };
}
