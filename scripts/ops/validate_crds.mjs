// Validates custom resources with the schemas of the @kubernetes-models npm packages.
// stdin: JSON list of {module, name, object}; prints "ok   <name>" or "FAIL <name>: <errors>".
// scripts/ops/validate_k8s.py copies it beside the node_modules that hold those packages.
import fs from "node:fs";

const input = JSON.parse(fs.readFileSync(0, "utf8"));
let failed = 0;
for (const { module, name, object } of input) {
  let Model;
  try {
    const mod = await import(module);
    Model = mod[object.kind] ?? mod.default;
  } catch (err) {
    console.log(`FAIL ${name}: cannot load ${module}: ${err.message}`);
    failed++;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`ok   ${name} (${object.apiVersion}, ${module.split("/").slice(0, 2).join("/")})`);
  } catch (err) {
    console.log(`FAIL ${name}: ${String(err.message).replace(/\s+/g, " ")}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
