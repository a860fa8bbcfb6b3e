// Validate GLB/glTF files with the Khronos glTF validator; prints one JSON report per file.
// Usage: node validate_gltf.mjs FILE...   (exit code 1 when any file has errors)
import { readFile } from "node:fs/promises";
import validator from "gltf-validator";

let failed = false;
const reports = [];
for (const file of process.argv.slice(2)) {
  const data = new Uint8Array(await readFile(file));
  const report = await validator.validateBytes(data, { uri: file, maxIssues: 50 });
  const issues = report.issues;
  if (issues.numErrors > 0) failed = true;
  reports.push({
    file,
    errors: issues.numErrors,
    warnings: issues.numWarnings,
    infos: issues.numInfos,
    messages: issues.messages.map((m) => `${m.severity === 0 ? "error" : m.severity === 1 ? "warning" : "info"} ${m.code}: ${m.message} (${m.pointer ?? ""})`),
  });
}
console.log(JSON.stringify(reports));
process.exit(failed ? 1 : 0);
