/**
 * No message shows any part of a secret, whatever malformed line carries it: configs
 * in both of the original's formats, holding known secrets, are mutated the ways
 * hands and editors break files (joined lines, lost `=`, stray `;` `:` `#`, control
 * characters, huge values), then loaded, checked and started.
 */

import assert from "node:assert/strict";
import { formatIssue, parseConfig } from "../src/config/load.ts";
import { run } from "./support/clients.ts";
import { SERVER_PERMISSIONS } from "./support/server.ts";

/** Random-looking, so no 6 characters of them occur in ordinary message text. */
const SECRETS = {
  id: "AKIDx7Qz9Lm2Vb",
  key: "Zk3Hq8=Wp5Rt",
  password: "Sup3r-Xy7Pw",
  alice: "Al1ceQv4Zp",
  bob: "B0b#Jk:9Tw",
  token: "T0kQ3nVx8",
};

const NEWER = `[COS_ACCOUNT_0]
cos_secretid = ${SECRETS.id}
cos_secretkey = ${SECRETS.key}
cos_bucket = examplebucket-1250000000
cos_endpoint = http://127.0.0.1:9
home_dir = /data/u0
ftp_login_user_name = u0
ftp_login_user_password = ${SECRETS.password}
authority = RW
delete_enable = true
[NETWORK]
listen_address = 127.0.0.1
listen_port = 0
[OPTIONAL]
log_dir = none
cos_timeout = 2
api_token = ${SECRETS.token}
`;

const OLDER = `[COS_ACCOUNT]
cos_secretid = ${SECRETS.id}
cos_secretkey = ${SECRETS.key}
cos_bucket = examplebucket-1250000000
cos_endpoint = http://127.0.0.1:9
cos_user_home_dir = /data/shared
[FTP_ACCOUNT]
login_users = alice:${SECRETS.alice}:RW;bob:${SECRETS.bob}:RO
[NETWORK]
listen_address = 127.0.0.1
listen_port = 0
[OPTIONAL]
log_dir = none
cos_timeout = 2
`;

const HUGE = "Q".repeat(2 * 2 ** 20);
const INSERTS = [
  ";",
  ":",
  "#",
  " #",
  " ;",
  "=",
  "\x00",
  "\x01",
  "\x1b[31m",
  "\x7f",
  "\t",
  "\r",
  "\n",
  "\u2028",
  HUGE,
];

/** Every 6-character piece of every secret. */
const PIECES = Object.values(SECRETS).flatMap((secret) =>
  Array.from({ length: secret.length - 5 }, (_, i) => secret.slice(i, i + 6))
);

/** Named mutations of `text`: joined lines, a lost `=`, and stray characters in values. */
function mutations(text: string): [string, string][] {
  const lines = text.split("\n");
  const out: [string, string][] = [];
  const emit = (name: string, changed: string[]) => out.push([name, changed.join("\n")]);
  lines.forEach((line, i) => {
    if (i > 0) {
      emit(`join ${i}+${i + 1}`, [
        ...lines.slice(0, i - 1),
        lines[i - 1] + line,
        ...lines.slice(i + 1),
      ]);
    }
    const eq = line.indexOf("=");
    if (eq < 0) return;
    const replaceLine = (name: string, next: string) =>
      emit(`line ${i + 1}: ${name}`, lines.map((l, j) => j === i ? next : l));
    replaceLine("drop =", line.slice(0, eq) + line.slice(eq + 1));
    replaceLine("= to space", `${line.slice(0, eq)} ${line.slice(eq + 1)}`);
    const valueAt = [eq + 2, Math.floor((eq + 2 + line.length) / 2), line.length];
    for (const insert of INSERTS) {
      for (const at of valueAt) {
        replaceLine(
          `insert ${JSON.stringify(insert.slice(0, 8))} at ${at}`,
          line.slice(0, at) + insert + line.slice(at),
        );
      }
    }
  });
  return out;
}

/** Fails naming the mutation when `output` shows a piece of a secret, control bytes, or too much. */
function assertClean(name: string, output: string, maxLength: number): void {
  const leaked = PIECES.find((piece) => output.includes(piece));
  assert.equal(leaked, undefined, `${name}: leaks "${leaked}":\n${output.slice(0, 2000)}`);
  assert.ok(output.length <= maxLength, `${name}: ${output.length} characters of output`);
  // Tab and newline are the only control characters a message may hold.
  assert.ok(!/[^\P{Cc}\t\n]|\u2028/u.test(output), `${name}: control characters`);
}

const CASES: [string, string][] = [
  ...mutations(NEWER).map(([name, text]): [string, string] => [`newer: ${name}`, text]),
  ...mutations(OLDER).map(([name, text]): [string, string] => [`older: ${name}`, text]),
];

Deno.test(`config messages never show a secret: ${CASES.length} mutated configs`, () => {
  assert.ok(CASES.length > 500);
  let failing = 0;
  for (const [name, text] of CASES) {
    const result = parseConfig(text, "m.conf", {}, "/srv/ftp");
    if (result.errors.length > 0) failing++;
    const output = [...result.errors, ...result.warnings].map(formatIssue).join("\n");
    assertClean(name, output, 20_000);
  }
  // Most mutations must break the file, or the test would be checking little.
  assert.ok(failing > CASES.length / 3, `only ${failing} of ${CASES.length} were errors`);
});

Deno.test("the issue's three leaks are named by key and line only", () => {
  const lostNewline = NEWER.replace(
    "authority = RW\n",
    `authority = RWftp_login_user_password = ${SECRETS.password}\n`,
  );
  const noEquals = NEWER.replace(
    `cos_secretkey = ${SECRETS.key}`,
    `cos_secretkey   ${SECRETS.key}`,
  );
  const split = OLDER.replace(`alice:${SECRETS.alice}:RW`, "alice:Al1;ce:Qv4:col#x;Zp:RW");
  const messages = (text: string) =>
    parseConfig(text, "m.conf", {}, "/srv").errors.map(formatIssue);
  assert.ok(
    messages(lostNewline).includes(
      "m.conf:9: authority: (value not shown: it may hold a secret) is not valid: use letters R " +
        "(read) and W (write), e.g. RW, RO or WO",
    ),
    messages(lostNewline).join("\n"),
  );
  assert.ok(messages(noEquals).some((m) => m.startsWith("m.conf:3: expected 'key = value'")));
  const splitMessages = messages(split).join("\n");
  assert.match(splitMessages, /m\.conf:8: login_users: entry 2: the authority/);
  assert.ok(!splitMessages.includes("col#x") && !splitMessages.includes("Qv4Zp"), splitMessages);
});

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A deterministic sample: the named leaks plus every 25th mutation. */
function cliSample(): [string, string][] {
  const chosen = CASES.filter((_, i) => i % 25 === 0);
  const named = CASES.filter(([name]) =>
    /join (9|8)\+|drop =|insert ";"|insert "\\u001b|insert "QQQQ/.test(name)
  ).filter((_, i) => i % 6 === 0);
  return [...chosen, ...named];
}

Deno.test("--check and start-up on mutated configs: no secret, bounded output, no stack trace", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cosftp-secrets-" });
  try {
    const sample = cliSample();
    assert.ok(sample.length >= 30, `${sample.length} configs`);
    const queue = [...sample.entries()];
    const worker = async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const [i, [name, text]] = next;
        const file = `${dir}/${i}.conf`;
        await Deno.writeTextFile(file, text);
        for (const args of [["--check"], []]) {
          // Start-up of a valid config runs until killed; what it printed by then counts.
          const out = await run(
            Deno.execPath(),
            ["run", ...SERVER_PERMISSIONS, MAIN, ...args, "--config", file],
            { cwd: dir, timeoutMs: args.length === 0 ? 4000 : 20_000 },
          );
          const all = out.stdout + out.stderr;
          assertClean(`${name} (${args.join(" ") || "start-up"})`, all, 30_000);
          assert.ok(!/Uncaught|\bat .*\.ts:\d+/.test(all), `${name}: crash:\n${all}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
