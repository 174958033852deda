// The "Add integration" form generated from a package's manifest: every var of the package,
// its inputs and their streams, one field per var type, giving the simplified package policy
// body Kibana's API takes (`vars`, `inputs["<template>-<input>"].streams["<dataset>"].vars`).
// No DOM here except through the `h` builder passed in, so the body logic is testable in node.

/** The value a var starts with: its default, or empty of the right shape. */
export function initialValue(v) {
  if (v.default !== undefined) return v.default;
  if (v.multi) return [];
  if (v.type === 'bool') return false;
  return '';
}

/** The value a form field holds, converted to what the API expects for the var's type. */
export function fieldValue(v, raw) {
  if (v.type === 'bool') return Boolean(raw);
  if (v.multi) {
    return String(raw).split('\n').map((s) => s.trim()).filter(Boolean)
      .map((s) => (v.type === 'integer' ? Number(s) : s));
  }
  if (v.type === 'integer') return raw === '' ? undefined : Number(raw);
  return raw === '' ? undefined : raw;
}

/** The streams of a package that an input of a policy template feeds. */
export function streamsFor(pkg, template, inputType) {
  const out = [];
  for (const ds of pkg.data_streams || []) {
    if (template.data_streams && !template.data_streams.includes(ds.path)) continue;
    for (const s of ds.streams || []) {
      if (s.input === inputType) out.push({ dataset: ds.dataset, dataStream: ds, stream: s });
    }
  }
  return out;
}

/** Every input of every policy template: {key, template, input, streams}. */
export function packageInputs(pkg) {
  const out = [];
  for (const t of pkg.policy_templates || []) {
    for (const input of t.inputs || []) {
      out.push({ key: `${t.name}-${input.type}`, template: t, input, streams: streamsFor(pkg, t, input.type) });
    }
  }
  return out;
}

/**
 * The simplified package policy body from the form's state: `values` maps a var's path
 * (`vars.x`, `inputs.KEY.vars.x`, `inputs.KEY.streams.DATASET.vars.x`) to its raw field value,
 * and `enabled` maps `inputs.KEY` / `inputs.KEY.streams.DATASET` to a boolean.
 */
export function policyBody(pkg, meta, values, enabled) {
  const varsOf = (defs, prefix) => {
    const out = {};
    for (const v of defs || []) {
      const raw = values[`${prefix}.${v.name}`];
      if (raw === undefined) continue;
      const value = fieldValue(v, raw);
      if (value !== undefined) out[v.name] = value;
    }
    return out;
  };
  const body = {
    name: meta.name,
    namespace: meta.namespace || 'default',
    policy_id: meta.policy_id,
    package: { name: pkg.name, version: pkg.version },
  };
  if (meta.description) body.description = meta.description;
  const pkgVars = varsOf(pkg.vars, 'vars');
  if (Object.keys(pkgVars).length) body.vars = pkgVars;
  body.inputs = {};
  for (const { key, input, streams } of packageInputs(pkg)) {
    const on = enabled[`inputs.${key}`] !== false;
    const entry = { enabled: on };
    const iv = varsOf(input.vars, `inputs.${key}.vars`);
    if (Object.keys(iv).length) entry.vars = iv;
    if (streams.length) {
      entry.streams = {};
      for (const { dataset, stream } of streams) {
        const s = { enabled: on && enabled[`inputs.${key}.streams.${dataset}`] !== false };
        const sv = varsOf(stream.vars, `inputs.${key}.streams.${dataset}.vars`);
        if (Object.keys(sv).length) s.vars = sv;
        entry.streams[dataset] = s;
      }
    }
    body.inputs[key] = entry;
  }
  return body;
}
