/**
 * The config key table (src/config/keys.ts) against itself, the example file, the
 * loader and the secret rules: one row per key, defaults its own parser accepts.
 */

import assert from "node:assert/strict";
import { DEFAULT_SETTINGS, settingsFromKeys } from "../src/config/globals.ts";
import {
  ACCOUNT_SPECS,
  CONFIG_KEYS,
  defaultOf,
  IGNORED_KEYS,
  isSecretKey,
  namesOf,
  SCALAR_KEYS,
  TLS_KEYS,
} from "../src/config/keys.ts";
import { embeddedDefaultConfig, formatIssue, parseConfig } from "../src/config/load.ts";
import { ACCOUNT_KEYS, GLOBAL_KEYS } from "../src/config/sections.ts";
import { isSecretName } from "../src/config/show.ts";

const EXAMPLE = new URL("../conf/vsftpd.conf.example", import.meta.url);

Deno.test("key table: no key name (or alias) twice, no field twice per section", () => {
  const names = CONFIG_KEYS.flatMap(namesOf);
  const twice = names.filter((name, i) => names.indexOf(name) !== i);
  assert.deepEqual(twice, []);
  for (const name of names) assert.match(name, /^[a-z][a-z0-9_]*$/, name);
  const fields = CONFIG_KEYS.map((spec) => `${spec.section}.${String(spec.field)}`);
  assert.deepEqual(fields.filter((field, i) => fields.indexOf(field) !== i), []);
  for (const ignored of Object.keys(IGNORED_KEYS)) assert.ok(!names.includes(ignored), ignored);
});

Deno.test("key table: every default parses with the key's own parser", () => {
  for (const spec of CONFIG_KEYS) {
    if (spec.default === null) {
      // Only account keys may leave the default to their reader (required or derived).
      assert.ok(["COS_ACCOUNT", "FTP_ACCOUNT"].includes(spec.section), spec.key);
      continue;
    }
    const parsed = spec.parse(spec.default);
    assert.ok(parsed.ok, `${spec.key} = ${spec.default}: ${parsed.ok || parsed.message}`);
  }
  assert.equal(defaultOf(ACCOUNT_SPECS.protocol), "https");
  assert.equal(defaultOf(ACCOUNT_SPECS.canDelete), true);
  assert.throws(() => defaultOf(ACCOUNT_SPECS.bucket), /cos_bucket has no default/);
});

Deno.test("key table: every key and alias is in conf/vsftpd.conf.example, set or described", async () => {
  const text = await Deno.readTextFile(EXAMPLE);
  for (const spec of CONFIG_KEYS) {
    // Each key opens a line (set, commented out, or described); aliases are named in the text.
    assert.match(text, new RegExp(`^#?\\s*${spec.key}\\b`, "m"), spec.key);
    for (const alias of spec.aliases) assert.match(text, new RegExp(`\\b${alias}\\b`), alias);
  }
  // Global keys are set in the example itself (commented account keys aside).
  for (const { key } of [...SCALAR_KEYS, ...TLS_KEYS]) {
    assert.match(text, new RegExp(`^${key} =`, "m"), key);
  }
});

Deno.test("key table: the loader knows exactly the table's keys", () => {
  assert.deepEqual(
    new Set(ACCOUNT_KEYS),
    new Set(CONFIG_KEYS.filter((s) => s.section === "COS_ACCOUNT").flatMap(namesOf)),
  );
  const global = Object.entries(GLOBAL_KEYS).flatMap(([section, keys]) =>
    keys.map((key) => `${section}.${key}`)
  );
  const table = CONFIG_KEYS.filter((s) => s.section !== "COS_ACCOUNT")
    .flatMap((spec) => namesOf(spec).map((key) => `${spec.section}.${key}`));
  assert.deepEqual(new Set(global), new Set(table));
  // A key of the table in its section is never warned about as unknown.
  const text = "[COS_ACCOUNT_1]\nstorage = local\nhome_dir = d\nftp_login_user_name = u\n" +
    "ftp_login_user_password = p\nauthority = RW\n" +
    Object.entries(GLOBAL_KEYS).filter(([section]) => section !== "FTP_ACCOUNT")
      .map(([section, keys]) => `[${section}]\n${keys.map((k) => `${k} = default\n`).join("")}`)
      .join("");
  const result = parseConfig(text, "t.conf", {}, "/srv");
  assert.deepEqual(result.errors.map(formatIssue), []);
  const unknown = result.warnings.map(formatIssue).filter((w) => w.includes("unknown"));
  assert.deepEqual(unknown, []);
});

Deno.test("key table: secret keys are the ones whose names say so, and stay hidden", () => {
  const secret = CONFIG_KEYS.filter((spec) => spec.secret).flatMap(namesOf).sort();
  assert.deepEqual(secret, [
    "cos_credentials",
    "cos_secretid",
    "cos_secretkey",
    "cos_security_token",
    "ftp_login_user_password",
    "login_users",
  ]);
  for (const spec of CONFIG_KEYS) {
    for (const name of namesOf(spec)) {
      assert.equal(isSecretKey(name), spec.secret, name);
      // Logs and messages outside src/config know secrets by name only.
      assert.equal(isSecretName(name), spec.secret, name);
    }
  }
});

Deno.test("key table: defaults of a file without global sections are the table's", () => {
  const text = "[COS_ACCOUNT_1]\nstorage = local\nhome_dir = d\nftp_login_user_name = u\n" +
    "ftp_login_user_password = p\nauthority = RW\n";
  const config = parseConfig(text, "t.conf", {}, "/srv").config;
  assert.ok(config !== null);
  const { source: _s, accounts: _a, users: _u, ...settings } = config;
  assert.deepEqual(settings, { ...DEFAULT_SETTINGS, logDir: "/srv/log" });
  assert.equal(DEFAULT_SETTINGS.minPartSize, 8 * 2 ** 20);
  assert.equal(DEFAULT_SETTINGS.hashMaxSize, 10 * 2 ** 30);
  assert.deepEqual(DEFAULT_SETTINGS.passivePorts, { min: 60000, max: 65535 });
  const embedded = embeddedDefaultConfig("/srv");
  assert.equal(embedded.uploadMemoryBudget, DEFAULT_SETTINGS.uploadMemoryBudget);
});

Deno.test("settingsFromKeys reads by table name and refuses unknown keys and bad values", () => {
  const settings = settingsFromKeys({ listen_port: "0", log_dir: "none", cert_file: "" }, "/srv");
  assert.equal(settings.listenPort, 0);
  assert.equal(settings.logDir, "");
  assert.equal(settings.idleTimeoutMs, DEFAULT_SETTINGS.idleTimeoutMs);
  assert.throws(() => settingsFromKeys({ listen_prot: "0" }, "/"), /listen_prot is not a global/);
  assert.throws(
    () => settingsFromKeys({ listen_port: "70000" }, "/"),
    /listen_port: 70000 is out of range/,
  );
  assert.throws(() => settingsFromKeys({ cos_bucket: "b-1" }, "/"), /not a global config key/);
});
