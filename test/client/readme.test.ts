import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

test("the README's 'Use it from your app' example is the typechecked consumer app", () => {
  const root = join(import.meta.dir, "..", "..");
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Use it from your app"));
  const example = section.match(/```ts\n([^]*?)```/)![1]!;
  const app = readFileSync(join(root, "test/consumer/app.ts"), "utf8");
  expect(app.split("\n").slice(1).join("\n")).toBe(example); // the first line is a comment
});
