/** The policy editor's checks and the table's summaries. */
import { describe, expect, test } from "bun:test";
import { evaluationOrder, fromDraft, summary, toDraft, type Policy } from "./policy.ts";

const draft = (over: Partial<ReturnType<typeof toDraft>> = {}) => ({ ...toDraft(null), id: "p", ...over });

describe("fromDraft", () => {
  test("reads the fields into a policy, leaving empty optional ones out", () => {
    expect(fromDraft(draft({ priority: "7", name: " Reports ", conditions: "[]" }))).toEqual({
      id: "p", name: "Reports", effect: "permit", priority: 7,
      subjects: [{ role: "admin" }], resources: [{ path: "/**" }], actions: [{ method: "GET" }],
    });
    expect(fromDraft(draft({ subjects: "", resources: "[]", priority: "" }))).toMatchObject({ subjects: [], resources: [], priority: 0 });
  });
  test("an edited policy comes back as it was", () => {
    const p: Policy = { id: "x", effect: "deny", priority: -3, subjects: [{ claim: { name: "dept", value: 3, operator: "gt" } }], resources: [{ app: "notes", owner: "self" }], actions: [], conditions: [{ type: "time", after: "07:00", dayOfWeek: [1, 5] }] };
    expect(fromDraft(toDraft(p))).toEqual(p);
  });
  test("each mistake says what to fix", () => {
    const cases: Array<[Partial<ReturnType<typeof toDraft>>, string]> = [
      [{ id: " " }, "The ID is required."],
      [{ effect: "allow" }, "The effect must be permit or deny."],
      [{ priority: "1.5" }, "The priority must be a whole number"],
      [{ subjects: '[{"role": ' }, "Subjects is not valid JSON"],
      [{ resources: '{"path": "/"}' }, "Resources must be a JSON list"],
      [{ actions: '["GET"]' }, "Actions[0] must be an object"],
      [{ subjects: '[{"rol": "admin"}]' }, 'Subjects[0] has an unknown field "rol"'],
      [{ subjects: '[{"role": 3}]' }, "Subjects[0].role must be a string"],
      [{ subjects: "[{}]" }, "Subjects[0] is empty"],
      [{ subjects: '[{"claim": {"name": "a", "value": 1, "operator": "like"}}]' }, "Subjects[0].claim.operator must be one of"],
      [{ conditions: '[{"type": "custom"}]' }, 'Conditions[0].type must be "time" or "ip"'],
      [{ conditions: '[{"type": "time", "after": "7:00"}]' }, "Conditions[0].after must be a time as HH:mm"],
      [{ conditions: '[{"type": "time", "dayOfWeek": [7]}]' }, "Conditions[0].dayOfWeek must be a list of days"],
      [{ conditions: '[{"type": "ip", "allowlist": "10.0.0.0/8"}]' }, "Conditions[0].allowlist must be a list"],
    ];
    for (const [over, message] of cases) expect(() => fromDraft(draft(over))).toThrow(message);
  });
});

describe("summary and order", () => {
  test("matchers in words; an empty list matches anything", () => {
    expect(summary("subjects", [{ role: "admin" }, { id: "bob", group: "ops" }])).toBe("role admin · id bob and group ops");
    expect(summary("subjects", [])).toBe("anyone");
    expect(summary("actions", [{ method: "*" }, { method: "get", operation: "export" }])).toBe("any method · GET and operation export");
    expect(summary("conditions", [{ type: "ip", allowlist: ["10.0.0.0/8"], blocklist: ["10.9.0.0/16"] }])).toBe("ip in 10.0.0.0/8 and ip not in 10.9.0.0/16");
    expect(summary("conditions", undefined)).toBe("none");
  });
  test("higher priority first, ties in the order added", () => {
    const p = (id: string, priority: number): Policy => ({ id, priority, effect: "permit", subjects: [], resources: [], actions: [] });
    expect(evaluationOrder([p("a", 0), p("b", 5), p("c", 0), p("d", 9)]).map((x) => x.id)).toEqual(["d", "b", "a", "c"]);
  });
});
