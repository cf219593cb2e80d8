/**
 * Unit tests for the config loader: the original tool's documented examples, the INI
 * dialect, every kind of error with its location, and storage selection.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parseIni } from "../src/config/ini.ts";
import { CONFIG_KEYS, IGNORED_KEYS, namesOf, SCALAR_KEYS, TLS_KEYS } from "../src/config/keys.ts";
import {
  embeddedDefaultConfig,
  formatIssue,
  loadConfigFile,
  type LoadResult,
  parseConfig,
} from "../src/config/load.ts";
import type { ConfigIssue, CosStorageConfig, ServerConfig } from "../src/config/types.ts";

const CWD = "/srv/ftp";
const FILE = "test.conf";
type Env = Record<string, string | undefined>;

function load(text: string, env: Env = {}): LoadResult {
  return parseConfig(text, FILE, env, CWD);
}

/** Loads text that must have no errors and returns its config. */
function loaded(text: string, env: Env = {}): ServerConfig {
  const result = load(text, env);
  assert.deepEqual(result.errors.map(formatIssue), []);
  assert.ok(result.config !== null);
  return result.config;
}

/** The formatted errors of text that must fail, and checks config is null. */
function errorsOf(text: string, env: Env = {}): string[] {
  const result = load(text, env);
  assert.equal(result.config, null);
  return result.errors.map(formatIssue);
}

function warningsOf(text: string, env: Env = {}): string[] {
  return withoutPlaintext(load(text, env).warnings);
}

/** Formatted warnings other than "plaintext password" (these tests use plaintext on purpose). */
function withoutPlaintext(warnings: ConfigIssue[]): string[] {
  return warnings.map(formatIssue).filter((text) => !text.includes(": plaintext password; "));
}

/** A minimal valid local account; `extra` lines go at the end of its section. */
function account(extra = "", name = "COS_ACCOUNT_0", user = "u0", home = "/data/u0"): string {
  return `[${name}]
storage = local
home_dir = ${home}
ftp_login_user_name = ${user}
ftp_login_user_password = secret
authority = RW
${extra}
`;
}

function cosOf(config: ServerConfig, index = 0): CosStorageConfig {
  const storage = config.accounts[index].storage;
  assert.equal(storage.kind, "cos");
  return storage;
}

// ---------------------------------------------------------------------------------------
// The original documentation's examples, verbatim.

/** From the older single-bucket documentation (tabs and inline comments included). */
const SEED_OLD = `[COS_ACCOUNT]
cos_secretid = XXXXXX					# secretid和secretkey 可以在以下地址获取：https://console.qcloud.com/capi
cos_secretkey = XXXXXX
cos_bucket = {bucket}-{appid}	      # 要操作的bucket，bucket的格式为：bucektname-appid组成。 针对COS V5用户，这里与V5控制台上显示一致。例如：qcloud-12xxxxx
cos_region = ap-xxx					  # bucket所在的区域，目前支持的区域请参照官方文档【适用于XML API部分】：https://www.qcloud.com/document/product/436/6224
cos_user_home_dir = /home/cos_ftp/data   # Ftp Server的工作目录
[FTP_ACCOUNT]
login_users = user1:pass1:RW;user2:pass2:RW     # FTP 账户配置。配置格式为“用户名:密码:读写权限”，多个账户用分号分割

[NETWORK]
masquerade_address = XXX.XXX.XXX.XXX        # 如果FTP SERVER处于某个网关或NAT后，可以通过该配置项将网关的IP地址或域名指定给FTP
listen_port = 2121					   # Ftp Server的监听端口，默认为2121，注意防火墙需要放行该端口

passive_port = 60000,65535             #passive_port可以设置passive模式下，端口的选择范围，默认在(60000, 65535)区间上选择

[FILE_OPTION]
# 默认单文件大小最大支持到200G，不建议设置太大
single_file_max_size = 21474836480

[OPTIONAL]
# 以下设置，如无特殊需要，建议保留default设置  如需设置，请合理填写一个整数
min_part_size       = default
upload_thread_num   = default
max_connection_num  = 512
max_list_file       = 10000                # ls命令最大可列出的文件数目，建议不要设置太大，否则ls命令延时会很高
log_level           = INFO                 # 设置日志输出的级别
log_dir             = log                  # 设置日志的存放目录，默认是在ftp server目录下的log目录中

`;

/** From the multi-account documentation. */
const SEED_NEW = `[COS_ACCOUNT_0]
cos_secretid = XXXXXX
cos_secretkey = XXXXXX
cos_bucket = {bucket name}-123
cos_region = ap-xxx
cos_protocol = https
#cos_endpoint = ap-xxx.myqcloud.com
home_dir = /home/user0
ftp_login_user_name=user0
ftp_login_user_password=pass0
authority=RW
delete_enable=true					 # true는 해당 FTP 사용자의 삭제 조작을 허용(기본값)하는 것이며, false는 해당 사용자의 삭제 조작을 금지하는 것입니다.

[COS_ACCOUNT_1]
cos_secretid = XXXX
cos_secretkey = XXXXX
cos_bucket = {bucket name}-123
cos_region = ap-xxx
cos_protocol = https
#cos_endpoint = ap-xxx.myqcloud.com
home_dir = /home/user1
ftp_login_user_name=user1
ftp_login_user_password=pass1
authority=RW
delete_enable=false

[NETWORK]
masquerade_address = XXX.XXX.XXX.XXX        # FTP 서버가 어떤 게이트웨이 또는 NAT 뒤에 위치하면 이 배치 항목을 통해 게이트웨이의 IP 주소 또는 도메인 이름을 FTP에 지정할 수 있습니다.
listen_port = 2121					   # FTP 서버의 수신 포트는 기본적으로 2121이며 방화벽은 해당 포트를 내보내야 합니다

passive_port = 60000,65535             # passive_port는 passive 모드에서 포트의 선택 범위를 설정할 수 있으며, 기본적으로(60000, 65535) 구간에서 선택됩니다

[FILE_OPTION]
# 기본적으로 단일 파일의 최대 크기는 200GB이며 너무 크게 설정하지 마십시오.
single_file_max_size = 21474836480

[OPTIONAL]
# 다음 설정은 특별히 필요하지 않으면 default 설정을 유지하는 것을 권장합니다. 설정이 필요하면, 하나의 정수를 합리적으로 기입해 주십시오.
min_part_size       = default
upload_thread_num   = default
max_connection_num  = 512
max_list_file       = 10000                # ls 명령의 최대적으로 열거할 수 있는 파일 수이므로 너무 크게 설정하지 마십시오. 그렇지 않으면 ls 명령이 매우 높게 지연됩니다.
log_level           = INFO                 # 로그 출력 클래스 설정
log_dir             = log                  # 로그의 저장 디렉터리를 설정합니다. 기본적으로 FTP 서버 디렉터리 아래의 log 디렉터리로 설정합니다.
`;

Deno.test("older documented example loads: login_users share the [COS_ACCOUNT]", () => {
  const config = loaded(SEED_OLD);
  assert.deepEqual(config.users, [
    {
      name: "user1",
      password: "pass1",
      canRead: true,
      canWrite: true,
      canDelete: true,
      account: 0,
    },
    {
      name: "user2",
      password: "pass2",
      canRead: true,
      canWrite: true,
      canDelete: true,
      account: 0,
    },
  ]);
  assert.deepEqual(config.accounts, [{
    section: "COS_ACCOUNT",
    homeDir: "/home/cos_ftp/data",
    storage: { kind: "local", root: "/home/cos_ftp/data" },
  }]);
  assert.equal(config.listenPort, 2121);
  assert.deepEqual(config.passivePorts, { min: 60000, max: 65535 });
  assert.equal(config.masqueradeAddress, "");
  assert.equal(config.singleFileMaxSize, 21474836480);
  assert.equal(config.minPartSize, 8 * 2 ** 20);
  assert.equal(config.uploadThreadNum, 4);
  assert.equal(config.maxConnections, 512);
  assert.equal(config.maxListFile, 10000);
  assert.equal(config.logLevel, "INFO");
  assert.equal(config.logDir, "/srv/ftp/log");
  assert.equal(config.source, FILE);
});

Deno.test("older documented example: placeholders are reported, not used", () => {
  const warnings = warningsOf(SEED_OLD);
  assert.equal(warnings.length, 4);
  assert.match(warnings[0], /^test\.conf:1: \[COS_ACCOUNT\]: account has no COS credentials .*/);
  assert.match(warnings[0], /uses local storage at \/home\/cos_ftp\/data/);
  assert.match(warnings[1], /^test\.conf:2: cos_secretid: looks like the documentation's placeh/);
  assert.match(warnings[2], /^test\.conf:3: cos_secretkey: looks like/);
  assert.match(warnings[3], /^test\.conf:11: masquerade_address: looks like .*placeholder/);
});

Deno.test("older documented example with env credentials needs a real bucket", () => {
  const env = { COS_SECRET_ID: "AKIDenv", COS_SECRET_KEY: "envkey" };
  const errors = errorsOf(SEED_OLD, env);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /^test\.conf:4: cos_bucket: must be <name>-<appid>/);
});

Deno.test("newer documented example loads: one user per account", () => {
  const config = loaded(SEED_NEW);
  assert.deepEqual(config.users, [
    {
      name: "user0",
      password: "pass0",
      canRead: true,
      canWrite: true,
      canDelete: true,
      account: 0,
    },
    {
      name: "user1",
      password: "pass1",
      canRead: true,
      canWrite: true,
      canDelete: false,
      account: 1,
    },
  ]);
  assert.deepEqual(config.accounts.map((a) => [a.section, a.homeDir, a.storage.kind]), [
    ["COS_ACCOUNT_0", "/home/user0", "local"],
    ["COS_ACCOUNT_1", "/home/user1", "local"],
  ]);
  assert.equal(config.listenPort, 2121);
  assert.deepEqual(config.passivePorts, { min: 60000, max: 65535 });
  assert.equal(config.singleFileMaxSize, 21474836480);
  assert.equal(config.maxListFile, 10000);
  assert.equal(config.logLevel, "INFO");
});

Deno.test("newer documented example with filled-in values uses COS", () => {
  const text = SEED_NEW.replaceAll("XXXXXX", "AKIDfile").replaceAll("XXXXX", "filekey")
    .replaceAll("XXXX", "AKIDone").replaceAll("{bucket name}-123", "examplebucket-1250000000")
    .replace("XXX.XXX.XXX.XXX", "203.0.113.7");
  const config = loaded(text);
  assert.deepEqual(config.accounts[0].storage, {
    kind: "cos",
    secretId: "AKIDfile",
    secretKey: "AKIDfile",
    bucket: "examplebucket-1250000000",
    region: "ap-xxx",
    endpoint: "",
    protocol: "https",
    prefix: "",
  });
  assert.equal(cosOf(config, 1).secretId, "AKIDone");
  assert.equal(cosOf(config, 1).secretKey, "filekey");
  assert.equal(config.masqueradeAddress, "203.0.113.7");
  assert.deepEqual(warningsOf(text), []);
});

// ---------------------------------------------------------------------------------------
// The INI dialect.

Deno.test("ini: sections, entries and line numbers", () => {
  const doc = parseIni("# c\n[A]\nKey = v\n\n  ; c\n[ b ]\nx=1\n", FILE);
  assert.deepEqual(doc, {
    sections: [
      { name: "A", line: 2, entries: [{ key: "key", value: "v", line: 3 }] },
      { name: "b", line: 6, entries: [{ key: "x", value: "1", line: 7 }] },
    ],
    issues: [],
  });
});

Deno.test("ini: inline comments only after whitespace", () => {
  const doc = parseIni(
    [
      "[S]",
      "a = 2121   # comment",
      "b = 2121\t; comment",
      "c = p#ss;word",
      "d = x:y:RW;z:w:RW",
      "e = # only a comment",
      "f=#x",
      "g = [not a section]",
      "  # indented comment",
      "\t; tab-indented comment",
    ].join("\n"),
    FILE,
  );
  const values = doc.sections[0].entries.map((e) => [e.key, e.value]);
  assert.deepEqual(values, [
    ["a", "2121"],
    ["b", "2121"],
    ["c", "p#ss;word"],
    ["d", "x:y:RW;z:w:RW"],
    ["e", ""],
    ["f", "#x"],
    ["g", "[not a section]"],
  ]);
});

Deno.test("ini: syntax issues carry file, line and key", () => {
  const doc = parseIni("orphan = 1\n[S]\njust words\n[broken\n[T] trailing\n= v\n[]\n", FILE);
  assert.deepEqual(doc.issues.map(formatIssue), [
    "test.conf:1: orphan: key is outside any [section]; put it under its section header",
    "test.conf:3: expected 'key = value', a [section] header or a # comment",
    "test.conf:4: section header is missing its closing ']'",
    "test.conf:5: [T]: unexpected text after the section header",
    "test.conf:6: missing key before '='",
    "test.conf:7: []: section name is empty",
  ]);
});

Deno.test("ini: a stray line is not echoed (it may be a password)", () => {
  const doc = parseIni("[S]\nhunter2\n", FILE);
  assert.equal(doc.issues.length, 1);
  assert.ok(!formatIssue(doc.issues[0]).includes("hunter2"));
});

Deno.test("ini: BOM and CRLF", () => {
  const doc = parseIni("\uFEFF[S]\r\na = 1  # c\r\n\r\nb = 2\r\n", FILE);
  assert.deepEqual(doc.sections, [{
    name: "S",
    line: 1,
    entries: [{ key: "a", value: "1", line: 2 }, { key: "b", value: "2", line: 4 }],
  }]);
});

Deno.test("config: BOM and CRLF keep line numbers in errors", () => {
  const text = "\uFEFF" + account("", "COS_ACCOUNT_0").replaceAll("\n", "\r\n") +
    "[NETWORK]\r\nlisten_port = 99999\r\n";
  assert.deepEqual(errorsOf(text), [
    "test.conf:9: listen_port: 99999 is out of range: a whole number from 0 to 65535 " +
    "(0 = any free port)",
  ]);
});

Deno.test("keys and section names are case-insensitive", () => {
  const config = loaded(account() + "[network]\nLISTEN_PORT = 21\n[Optional]\nLog_Level = debug\n");
  assert.equal(config.listenPort, 21);
  assert.equal(config.logLevel, "DEBUG");
});

// ---------------------------------------------------------------------------------------
// Users and passwords.

Deno.test("passwords keep #, ; and : in account sections", () => {
  const text = account().replace("secret", "p#ss;wo:rd") + "[NETWORK]\nlisten_port = 2121 # c\n";
  const config = loaded(text);
  assert.equal(config.users[0].password, "p#ss;wo:rd");
  assert.equal(config.listenPort, 2121);
});

Deno.test("login_users: password between first and last colon, ignores empty entries", () => {
  const text = `[COS_ACCOUNT]
storage = local
cos_user_home_dir = /data/shared
delete_enable = no
[FTP_ACCOUNT]
login_users = alice:pa:ss#1:rw; bob:x:RO;carol:c:WO;;
`;
  const config = loaded(text);
  assert.deepEqual(config.users.map((u) => [u.name, u.password, u.canRead, u.canWrite]), [
    ["alice", "pa:ss#1", true, true],
    ["bob", "x", true, false],
    ["carol", "c", false, true],
  ]);
  assert.ok(config.users.every((u) => !u.canDelete && u.account === 0));
});

Deno.test("login_users errors name the entry, never the password nor a fragment", () => {
  const text = `[COS_ACCOUNT]
storage = local
cos_user_home_dir = /data/shared
[FTP_ACCOUNT]
login_users = alice:topsecret;:pw:RW;bob::RW;carol:pw2:RX
`;
  const errors = errorsOf(text);
  assert.deepEqual(errors, [
    "test.conf:5: login_users: entry 1 must be user:password:authority, e.g. user1:pass1:RW " +
    "(a password holding ';' splits its entry)",
    "test.conf:5: login_users: entry 2 has an empty user name",
    "test.conf:5: login_users: entry 3 has an empty password",
    "test.conf:5: login_users: entry 4: the authority (after the last ':') is not valid: use " +
    "letters R and W, e.g. RW, RO or WO",
  ]);
  assert.ok(errors.every((e) => !e.includes("topsecret") && !e.includes("pw2")));
  // A password holding ';' and ':' splits into a fragment that looks like an entry.
  const split = errorsOf(text.replace(/login_users = .*/, "login_users = al:Sup3r;col#x:RW"));
  assert.ok(split.every((e) => !e.includes("col#x") && !e.includes("Sup3r")), split.join("\n"));
});

Deno.test("login_users without [COS_ACCOUNT], or listing nobody", () => {
  assert.deepEqual(errorsOf(account() + "[FTP_ACCOUNT]\nlogin_users = a:b:RW\n"), [
    "test.conf:9: login_users: needs a [COS_ACCOUNT] section (the older single-account " +
    "format) whose storage its users share",
  ]);
  const legacy = "[COS_ACCOUNT]\nstorage=local\nhome_dir=/d\n[FTP_ACCOUNT]\nlogin_users =;\n";
  assert.deepEqual(errorsOf(legacy), [
    "test.conf:5: login_users: lists no users; expected user:password:authority;...",
  ]);
});

Deno.test("authority letters and delete_enable spellings", () => {
  const cases: [string, boolean, boolean][] = [
    ["rw", true, true],
    ["RO", true, false],
    [
      "wo",
      false,
      true,
    ],
    ["R", true, false],
    ["OW", false, true],
  ];
  for (const [authority, canRead, canWrite] of cases) {
    const user = loaded(account().replace("authority = RW", `authority = ${authority}`)).users[0];
    assert.deepEqual([user.canRead, user.canWrite], [canRead, canWrite], authority);
  }
  for (const [value, expected] of [["Yes", true], ["off", false], ["0", false], ["ON", true]]) {
    assert.equal(loaded(account(`delete_enable = ${value}`)).users[0].canDelete, expected);
  }
  assert.equal(loaded(account("delete_enable = default")).users[0].canDelete, true);
});

Deno.test("bad authority and delete_enable are errors at their line", () => {
  assert.deepEqual(errorsOf(account().replace("authority = RW", "authority = O")), [
    'test.conf:6: authority: "O" is not valid: use letters R (read) and W (write), e.g. RW, RO ' +
    "or WO",
  ]);
  assert.deepEqual(errorsOf(account("delete_enable = maybe")), [
    "test.conf:7: delete_enable: must be true or false (or yes/no, on/off, 1/0)",
  ]);
});

Deno.test("missing user keys are errors at the section line", () => {
  const text = "[COS_ACCOUNT_0]\nstorage = local\nhome_dir = /d\nauthority = default\n";
  assert.deepEqual(errorsOf(text), [
    "test.conf:1: ftp_login_user_name: [COS_ACCOUNT_0] needs ftp_login_user_name",
    "test.conf:1: ftp_login_user_password: [COS_ACCOUNT_0] needs ftp_login_user_password",
    "test.conf:1: authority: [COS_ACCOUNT_0] needs authority (e.g. RW or RO)",
  ]);
});

Deno.test("duplicate user names are errors naming both places", () => {
  const text = account() + account("", "COS_ACCOUNT_1", "u0", "/data/u1") +
    "[COS_ACCOUNT]\nstorage=local\nhome_dir=/data/old\n[FTP_ACCOUNT]\nlogin_users = u0:x:RW\n";
  assert.deepEqual(errorsOf(text), [
    'test.conf:11: ftp_login_user_name: user "u0" in [COS_ACCOUNT_1] is already defined in ' +
    "[COS_ACCOUNT_0] (line 4); user names must be unique",
    'test.conf:19: login_users: user "u0" in [FTP_ACCOUNT] login_users is already defined in ' +
    "[COS_ACCOUNT_0] (line 4); user names must be unique",
  ]);
});

Deno.test("no account at all is an error", () => {
  assert.deepEqual(errorsOf("[NETWORK]\nlisten_port = 21\n"), [
    "test.conf: no [COS_ACCOUNT*] section: define at least one account with an FTP user " +
    "(see conf/vsftpd.conf.example)",
  ]);
  assert.equal(errorsOf("").length, 1);
});

// ---------------------------------------------------------------------------------------
// home_dir.

Deno.test("equal and nested home_dirs are errors naming both sections", () => {
  const text = account("", "COS_ACCOUNT_0", "a", "/data/a") +
    account("", "COS_ACCOUNT_1", "b", "/data/a/b") +
    account("", "COS_ACCOUNT_2", "c", "/data") +
    account("", "COS_ACCOUNT_3", "d", "/data//a/");
  const tail = "each account needs its own home_dir, not inside another's";
  assert.deepEqual(errorsOf(text), [
    `test.conf:10: home_dir: /data/a/b of [COS_ACCOUNT_1] is inside /data/a of [COS_ACCOUNT_0] ` +
    `(line 3); ${tail}`,
    `test.conf:17: home_dir: /data of [COS_ACCOUNT_2] contains /data/a of [COS_ACCOUNT_0] ` +
    `(line 3); ${tail}`,
    `test.conf:17: home_dir: /data of [COS_ACCOUNT_2] contains /data/a/b of [COS_ACCOUNT_1] ` +
    `(line 10); ${tail}`,
    `test.conf:24: home_dir: /data/a of [COS_ACCOUNT_3] is the same as /data/a of ` +
    `[COS_ACCOUNT_0] (line 3); ${tail}`,
    `test.conf:24: home_dir: /data/a of [COS_ACCOUNT_3] contains /data/a/b of [COS_ACCOUNT_1] ` +
    `(line 10); ${tail}`,
    `test.conf:24: home_dir: /data/a of [COS_ACCOUNT_3] is inside /data of [COS_ACCOUNT_2] ` +
    `(line 17); ${tail}`,
  ]);
});

Deno.test("home_dirs resolve against cwd; sibling prefixes are fine", () => {
  const text = account("", "COS_ACCOUNT_0", "a", "data/a") +
    account("", "COS_ACCOUNT_1", "b", "/srv/ftp/data/ab");
  const config = loaded(text);
  assert.deepEqual(config.accounts.map((a) => a.homeDir), ["/srv/ftp/data/a", "/srv/ftp/data/ab"]);
  assert.deepEqual(errorsOf(text.replace("data/ab", "data/a/../a")).length, 1);
});

Deno.test("missing home_dir is an error unless a local account has local_root", () => {
  const text = account().replace("home_dir = /data/u0", "cos_bucket = b-1");
  assert.deepEqual(errorsOf(text), [
    "test.conf:1: local_root: [COS_ACCOUNT_0] uses local storage but has neither local_root " +
    "nor home_dir",
  ]);
  const cos = account().replace("home_dir = /data/u0", "cos_bucket = b-1\ncos_region = r")
    .replace("storage = local", "storage = cos");
  assert.deepEqual(errorsOf(cos, { COS_SECRET_ID: "i", COS_SECRET_KEY: "k" }), [
    "test.conf:1: home_dir: [COS_ACCOUNT_0] needs home_dir (cos_user_home_dir in the older " +
    "format), which must differ between accounts",
  ]);
  const local = loaded(account().replace("home_dir = /data/u0", "local_root = files"));
  assert.deepEqual(local.accounts[0], {
    section: "COS_ACCOUNT_0",
    homeDir: "/srv/ftp/files",
    storage: { kind: "local", root: "/srv/ftp/files" },
  });
});

// ---------------------------------------------------------------------------------------
// Storage selection and credentials.

const COS_ACCOUNT = `[COS_ACCOUNT_0]
cos_bucket = examplebucket-1250000000
cos_region = ap-guangzhou
home_dir = /home/user0
ftp_login_user_name = user0
ftp_login_user_password = pass0
authority = RW
`;

Deno.test("credentials: file, then section env, then shared env", () => {
  const shared = { COS_SECRET_ID: "shared-id", COS_SECRET_KEY: "shared-key" };
  const section = {
    COS_SECRET_ID_COS_ACCOUNT_0: "own-id",
    COS_SECRET_KEY_COS_ACCOUNT_0: "own-key",
  };
  const viaShared = cosOf(loaded(COS_ACCOUNT, shared));
  assert.deepEqual([viaShared.secretId, viaShared.secretKey], ["shared-id", "shared-key"]);
  const viaSection = cosOf(loaded(COS_ACCOUNT, { ...shared, ...section }));
  assert.deepEqual([viaSection.secretId, viaSection.secretKey], ["own-id", "own-key"]);
  const withFile = COS_ACCOUNT + "cos_secretid = file-id\n";
  const mixed = cosOf(loaded(withFile, { ...shared, ...section }));
  assert.deepEqual([mixed.secretId, mixed.secretKey], ["file-id", "own-key"]);
  const empty = { ...shared, COS_SECRET_ID_COS_ACCOUNT_0: "" };
  assert.equal(cosOf(loaded(COS_ACCOUNT, empty)).secretId, "shared-id");
});

Deno.test("credentials: section env name upper-cases and replaces other characters", () => {
  const text = COS_ACCOUNT.replace("[COS_ACCOUNT_0]", "[cos_account-eu.1]");
  const env = { COS_SECRET_ID_COS_ACCOUNT_EU_1: "i", COS_SECRET_KEY_COS_ACCOUNT_EU_1: "k" };
  const storage = cosOf(loaded(text, env));
  assert.deepEqual([storage.secretId, storage.secretKey], ["i", "k"]);
});

Deno.test("no credentials: local storage at home_dir with a warning", () => {
  const result = load(COS_ACCOUNT);
  assert.deepEqual(result.config?.accounts[0].storage, { kind: "local", root: "/home/user0" });
  assert.deepEqual(withoutPlaintext(result.warnings), [
    "test.conf:1: [COS_ACCOUNT_0]: account has no COS credentials (cos_secretid/cos_secretkey, " +
    "or env COS_SECRET_ID_COS_ACCOUNT_0/COS_SECRET_KEY_COS_ACCOUNT_0 or " +
    "COS_SECRET_ID/COS_SECRET_KEY) and uses local storage at /home/user0; set storage = local " +
    "to make that explicit",
  ]);
  const withRoot = load(COS_ACCOUNT + "local_root = ./files\n");
  assert.deepEqual(withRoot.config?.accounts[0].storage, { kind: "local", root: "/srv/ftp/files" });
});

Deno.test("storage = local ignores credentials and does not warn", () => {
  const env = { COS_SECRET_ID: "i", COS_SECRET_KEY: "k" };
  const result = load(COS_ACCOUNT + "storage = LOCAL\n", env);
  assert.deepEqual(result.config?.accounts[0].storage, { kind: "local", root: "/home/user0" });
  assert.deepEqual(withoutPlaintext(result.warnings), []);
});

Deno.test("storage = cos without credentials, or half a pair, is an error", () => {
  assert.deepEqual(errorsOf(COS_ACCOUNT + "storage = cos\n"), [
    "test.conf:1: cos_secretid: [COS_ACCOUNT_0] uses COS storage but cos_secretid is not set " +
    "(nor env COS_SECRET_ID_COS_ACCOUNT_0 or COS_SECRET_ID)",
    "test.conf:1: cos_secretkey: [COS_ACCOUNT_0] uses COS storage but cos_secretkey is not set " +
    "(nor env COS_SECRET_KEY_COS_ACCOUNT_0 or COS_SECRET_KEY)",
  ]);
  assert.deepEqual(errorsOf(COS_ACCOUNT + "cos_secretid = only-id\n"), [
    "test.conf:1: cos_secretkey: [COS_ACCOUNT_0] uses COS storage but cos_secretkey is not set " +
    "(nor env COS_SECRET_KEY_COS_ACCOUNT_0 or COS_SECRET_KEY)",
  ]);
  assert.deepEqual(errorsOf(COS_ACCOUNT + "storage = ftp\n"), [
    'test.conf:8: storage: must be "cos" or "local"',
  ]);
});

Deno.test("secrets never appear in messages", () => {
  const text = COS_ACCOUNT.replace("examplebucket-1250000000", "Bad_Bucket") +
    "cos_secretid = AKIDsupersecret\ncos_secretkey = keysupersecret\nbogus = 1\n";
  const result = load(text);
  const all = [...result.errors, ...result.warnings].map(formatIssue).join("\n");
  assert.ok(result.errors.length > 0);
  assert.ok(!all.includes("supersecret"), all);
});

Deno.test("COS settings: endpoint wins, protocol, prefix normalised", () => {
  const env = { COS_SECRET_ID: "i", COS_SECRET_KEY: "k" };
  const text = COS_ACCOUNT + "cos_endpoint = http://10.0.0.5:9000\ncos_protocol = HTTP\n" +
    "cos_prefix = //ftp//team1\n";
  assert.deepEqual(cosOf(loaded(text, env)), {
    kind: "cos",
    secretId: "i",
    secretKey: "k",
    bucket: "examplebucket-1250000000",
    region: "ap-guangzhou",
    endpoint: "http://10.0.0.5:9000",
    protocol: "http",
    prefix: "ftp/team1/",
  });
  assert.equal(cosOf(loaded(COS_ACCOUNT + "cos_prefix = /\n", env)).prefix, "");
  const older = COS_ACCOUNT.replace("cos_region = ap-guangzhou", "endpoint = {Bucket}.cos.x.com");
  assert.equal(cosOf(loaded(older, env)).endpoint, "{Bucket}.cos.x.com");
});

Deno.test("COS settings errors", () => {
  const env = { COS_SECRET_ID: "i", COS_SECRET_KEY: "k" };
  const text = COS_ACCOUNT.replace("examplebucket-1250000000", "Example-12x")
    .replace("cos_region = ap-guangzhou", "cos_protocol = ftp\ncos_prefix = a/../b");
  assert.deepEqual(errorsOf(text, env), [
    "test.conf:1: cos_region: [COS_ACCOUNT_0] uses COS storage but has neither cos_region nor " +
    "cos_endpoint",
    "test.conf:2: cos_bucket: must be <name>-<appid> (lowercase letters, digits and '-', then " +
    "the numeric APPID), e.g. examplebucket-1250000000",
    'test.conf:3: cos_protocol: must be "http" or "https"',
    'test.conf:4: cos_prefix: must not contain "." or ".." segments',
  ]);
  const noBucket = COS_ACCOUNT.replace("cos_bucket = examplebucket-1250000000", "");
  assert.deepEqual(errorsOf(noBucket, env), [
    "test.conf:1: cos_bucket: [COS_ACCOUNT_0] needs cos_bucket",
  ]);
});

// ---------------------------------------------------------------------------------------
// Global sections.

Deno.test("`default` and empty values mean the default", () => {
  const text = account() + `[NETWORK]
listen_port = default
passive_port =
masquerade_address = DEFAULT
[OPTIONAL]
min_part_size = default
log_level =
log_dir = Default
`;
  const config = loaded(text);
  assert.equal(config.listenPort, 2121);
  assert.deepEqual(config.passivePorts, { min: 60000, max: 65535 });
  assert.equal(config.masqueradeAddress, "");
  assert.equal(config.minPartSize, 8388608);
  assert.equal(config.logLevel, "INFO");
  assert.equal(config.logDir, "/srv/ftp/log");
});

Deno.test("all defaults", () => {
  const { source: _s, accounts: _a, users: _u, ...settings } = loaded(account());
  assert.deepEqual(settings, {
    listenAddress: "0.0.0.0",
    listenPort: 2121,
    passivePorts: { min: 60000, max: 65535 },
    masqueradeAddress: "",
    singleFileMaxSize: 0,
    minPartSize: 8388608,
    uploadThreadNum: 4,
    maxConnections: 512,
    maxListFile: 10000,
    logLevel: "INFO",
    logFormat: "text",
    logDir: "/srv/ftp/log",
    shutdownGraceMs: 30000,
    idleTimeoutMs: 300000,
    dataTimeoutMs: 300000,
    passiveAcceptTimeoutMs: 30000,
    loginFailDelayMs: 3000,
    maxLoginAttempts: 3,
    uploadMemoryBudget: 2 ** 30,
    cosTimeoutMs: 60000,
    leaseIntervalMs: 15000,
    instanceName: "",
    maxRenameObjects: 1000,
    activeMode: true,
    maxConnectionsPerIp: 32,
    maxLoggedInUsers: 0,
    banAfterFailures: 10,
    banWindowMs: 600000,
    banTimeMs: 600000,
    verifyChecksums: true,
    hashMaxSize: 10 * 2 ** 30,
    keepPartialUploads: false,
    proxyProtocol: "off",
    proxyTrustedNetworks: ["127.0.0.1/32", "::1/128"],
    adminListen: "",
    adminProbeIntervalMs: 5000,
    adminReadyMaxAgeMs: 30000,
    tls: { certFile: "", keyFile: "", implicitPort: 0, requireTls: false, minVersion: "1.2" },
  });
});

Deno.test("every global key is read", () => {
  const text = account() + `[NETWORK]
masquerade_address = ftp.example.com
listen_port = 0
passive_port = 50000-50010
listen_address = [::1]
active_mode = no
proxy_protocol = v2
proxy_trusted_networks = 10.0.0.0/8, 192.168.1.0/24
[FILE_OPTION]
single_file_max_size = 20G
[OPTIONAL]
min_part_size = 16MiB
upload_thread_num = 64
max_connection_num = 0
max_list_file = 0
log_level = warn
log_format = JSON
log_dir = /var/log/ftp
shutdown_grace_period = 1.5
idle_timeout = 0
data_timeout = 60
passive_accept_timeout = .25
login_failure_delay = 0
max_login_attempts = 1
upload_memory_budget = 64M
cos_timeout = 5
max_rename_objects = 0
max_connections_per_ip = 4
max_logged_in_users = 100
ban_after_failures = 5
ban_window = 60
ban_time = 120
verify_checksums = no
hash_max_size = 0
keep_partial_uploads = yes
lease_interval = 3
instance_name = ftp-a
[ADMIN]
listen = 127.0.0.1:9121
probe_interval = 2
ready_max_age = 10
[FTPS]
cert_file = tls/cert.pem
key_file = tls/key.pem
implicit_port = 990
require_tls = yes
min_tls_version = TLSv1.3
`;
  // A key added to the table must be added here too.
  for (const { key } of [...SCALAR_KEYS, ...TLS_KEYS]) {
    assert.match(text, new RegExp(`^${key} = `, "m"), key);
  }
  const { source: _s, accounts: _a, users: _u, ...settings } = loaded(text);
  assert.deepEqual(settings, {
    listenAddress: "::1",
    listenPort: 0,
    passivePorts: { min: 50000, max: 50010 },
    masqueradeAddress: "ftp.example.com",
    singleFileMaxSize: 20 * 2 ** 30,
    minPartSize: 16 * 2 ** 20,
    uploadThreadNum: 64,
    maxConnections: 0,
    maxListFile: 0,
    logLevel: "WARNING",
    logFormat: "json",
    logDir: "/var/log/ftp",
    shutdownGraceMs: 1500,
    idleTimeoutMs: 0,
    dataTimeoutMs: 60000,
    passiveAcceptTimeoutMs: 250,
    loginFailDelayMs: 0,
    maxLoginAttempts: 1,
    uploadMemoryBudget: 64 * 2 ** 20,
    cosTimeoutMs: 5000,
    maxRenameObjects: 0,
    activeMode: false,
    maxConnectionsPerIp: 4,
    maxLoggedInUsers: 100,
    banAfterFailures: 5,
    banWindowMs: 60000,
    banTimeMs: 120000,
    verifyChecksums: false,
    hashMaxSize: 0,
    keepPartialUploads: true,
    proxyProtocol: "v2",
    proxyTrustedNetworks: ["10.0.0.0/8", "192.168.1.0/24"],
    adminListen: "127.0.0.1:9121",
    adminProbeIntervalMs: 2000,
    adminReadyMaxAgeMs: 10000,
    leaseIntervalMs: 3000,
    instanceName: "ftp-a",
    tls: {
      certFile: "/srv/ftp/tls/cert.pem",
      keyFile: "/srv/ftp/tls/key.pem",
      implicitPort: 990,
      requireTls: true,
      minVersion: "1.3",
    },
  });
});

Deno.test("[FTPS] needs both files; implicit_port and require_tls need them", () => {
  const result = parseConfig(
    account() + "[FTPS]\ncert_file = c.pem\nimplicit_port = 990\n",
    "f.conf",
    {},
    "/srv/ftp",
  );
  assert.equal(result.config, null);
  assert.match(result.errors.map(formatIssue).join("\n"), /f\.conf:\d+: cert_file: needs key_file/);
  const none = parseConfig(account() + "[FTPS]\nrequire_tls = true\n", "f.conf", {}, "/srv/ftp");
  assert.match(
    none.errors.map(formatIssue).join("\n"),
    /require_tls: needs cert_file and key_file/,
  );
});

Deno.test("upload_memory_budget must hold two parts of min_part_size", () => {
  const result = parseConfig(
    account() + "[OPTIONAL]\nmin_part_size = 64M\nupload_memory_budget = 100M\n",
    "f.conf",
    {},
    "/srv/ftp",
  );
  assert.equal(result.config, null);
  assert.match(
    result.errors.map(formatIssue).join("\n"),
    /f\.conf:\d+: upload_memory_budget: .*twice/,
  );
});

Deno.test("log_level and log_dir spellings", () => {
  const level = (v: string) => loaded(account() + `[OPTIONAL]\nlog_level = ${v}\n`).logLevel;
  assert.deepEqual(["critical", "Error", "WARNING", "debug"].map(level), [
    "ERROR",
    "ERROR",
    "WARNING",
    "DEBUG",
  ]);
  const dir = (v: string) => loaded(account() + `[OPTIONAL]\nlog_dir = ${v}\n`).logDir;
  assert.deepEqual(["none", "NONE", "-", "logs/ftp"].map(dir), ["", "", "", "/srv/ftp/logs/ftp"]);
});

Deno.test("listen_address and masquerade_address forms", () => {
  const listen = (v: string) => loaded(account() + `[NETWORK]\nlisten_address = ${v}\n`);
  assert.equal(listen("::").listenAddress, "::");
  assert.equal(listen("127.0.0.1").listenAddress, "127.0.0.1");
  const masq = (v: string) => loaded(account() + `[NETWORK]\nmasquerade_address = ${v}\n`);
  assert.equal(masq("10.1.2.3").masqueradeAddress, "10.1.2.3");
  assert.equal(masq("gw-1.example.org").masqueradeAddress, "gw-1.example.org");
});

/** Each bad value and the exact error it produces, on line 9 under `[section]` on line 8. */
const BAD_VALUES: [string, string, string, string][] = [
  [
    "NETWORK",
    "listen_port",
    "abc",
    'must be a whole number from 0 to 65535 (0 = any free port), got "abc"',
  ],
  [
    "NETWORK",
    "listen_port",
    "-1",
    'must be a whole number from 0 to 65535 (0 = any free port), got "-1"',
  ],
  [
    "NETWORK",
    "listen_port",
    "21.5",
    'must be a whole number from 0 to 65535 (0 = any free port), got "21.5"',
  ],
  [
    "NETWORK",
    "listen_port",
    "65536",
    "65536 is out of range: a whole number from 0 to 65535 (0 = any free port)",
  ],
  [
    "NETWORK",
    "passive_port",
    "60000",
    'must be two ports from 1 to 65535 as "first,last" or "first-last", got "60000"',
  ],
  [
    "NETWORK",
    "passive_port",
    "0,10",
    '0,10 is out of range: must be two ports from 1 to 65535 as "first,last" or "first-last"',
  ],
  ["NETWORK", "passive_port", "60010,60000", "first port 60010 is greater than last port 60000"],
  [
    "NETWORK",
    "masquerade_address",
    "2001:db8::1",
    "IPv6 cannot be announced: PASV replies carry IPv4 only; use IPv4 or a host name",
  ],
  ["NETWORK", "masquerade_address", "300.1.2.3", '"300.1.2.3" is not a valid IPv4 address'],
  ["NETWORK", "masquerade_address", "bad_host!", "must be an IPv4 address or a DNS host name"],
  [
    "NETWORK",
    "listen_address",
    "localhost",
    "must be an IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1, :: or ::1",
  ],
  [
    "FILE_OPTION",
    "single_file_max_size",
    "20X",
    "must be a size in bytes (a whole number, optionally with K, M, G or T), from 0 to 50000 GiB (53687091200000) (0 = no limit; COS allows at most 10000 parts of 5 GiB)",
  ],
  [
    "FILE_OPTION",
    "single_file_max_size",
    "1.5G",
    "must be a size in bytes (a whole number, optionally with K, M, G or T), from 0 to 50000 GiB (53687091200000) (0 = no limit; COS allows at most 10000 parts of 5 GiB)",
  ],
  [
    "OPTIONAL",
    "min_part_size",
    "512K",
    "512K is out of range: from 1 MiB (1048576) to 5 GiB (5368709120) (COS part limits)",
  ],
  [
    "OPTIONAL",
    "min_part_size",
    "6G",
    "6G is out of range: from 1 MiB (1048576) to 5 GiB (5368709120) (COS part limits)",
  ],
  ["OPTIONAL", "upload_thread_num", "0", "0 is out of range: a whole number from 1 to 64"],
  [
    "OPTIONAL",
    "max_connection_num",
    "-5",
    'must be a whole number from 0 to 1000000 (0 = unlimited), got "-5"',
  ],
  [
    "OPTIONAL",
    "max_list_file",
    "lots",
    'must be a whole number from 0 to 10000000 (0 = unlimited), got "lots"',
  ],
  ["OPTIONAL", "log_level", "VERBOSE", "must be DEBUG, INFO, WARNING, ERROR or CRITICAL"],
  [
    "OPTIONAL",
    "idle_timeout",
    "-1",
    'must be a number of seconds from 0 to 2147483 (about 24.8 days), got "-1"',
  ],
  [
    "OPTIONAL",
    "data_timeout",
    "5m",
    'must be a number of seconds from 0 to 2147483 (about 24.8 days), got "5m"',
  ],
  [
    "OPTIONAL",
    "shutdown_grace_period",
    "9999999",
    "9999999 is out of range: a number of seconds from 0 to 2147483 (about 24.8 days)",
  ],
  ["OPTIONAL", "max_login_attempts", "0", "0 is out of range: a whole number from 1 to 1000"],
  ["OPTIONAL", "max_login_attempts", "2.5", 'must be a whole number from 1 to 1000, got "2.5"'],
];

Deno.test("bad values: exact file:line, key and allowed range", () => {
  for (const [section, key, value, message] of BAD_VALUES) {
    const text = account() + `[${section}]\n${key} = ${value}   # trailing comment\n`;
    assert.deepEqual(errorsOf(text), [`test.conf:9: ${key}: ${message}`], `${key} = ${value}`);
  }
});

Deno.test("all problems are reported together, in file order", () => {
  const text = account("authority = X") + "[NETWORK]\nlisten_port = x\n[OPTIONAL]\nlog_level = y\n";
  const errors = errorsOf(text);
  assert.deepEqual(errors.map((e) => e.split(":").slice(0, 3).join(":")), [
    "test.conf:7: authority",
    "test.conf:9: listen_port",
    "test.conf:11: log_level",
  ]);
});

Deno.test("duplicate sections and keys are errors", () => {
  const text = account("home_dir = /other") +
    "[NETWORK]\nlisten_port=1\n[network]\nlisten_port=2\n";
  assert.deepEqual(errorsOf(text), [
    "test.conf:7: home_dir: set twice in [COS_ACCOUNT_0] (first at line 3); remove one",
    "test.conf:10: [network]: section appears twice (first at line 8), its entries are not " +
    "used; merge the two",
  ]);
  const twice = account() + account("", "cos_account_0", "u1", "/data/u1");
  assert.match(
    errorsOf(twice)[0],
    /^test\.conf:8: \[cos_account_0\]: section appears twice .*COS_ACCOUNT_1$/,
  );
});

// ---------------------------------------------------------------------------------------
// Warnings.

Deno.test("unknown keys and sections are warnings with their line", () => {
  const text = account("colour = blue") + "[NETWORK]\nlisten_prot = 21\n[EXTRA]\nx = 1\n";
  const result = load(text);
  assert.ok(result.config !== null);
  assert.deepEqual(withoutPlaintext(result.warnings), [
    "test.conf:7: colour: unknown key in [COS_ACCOUNT_0], ignored",
    "test.conf:9: listen_prot: unknown key in [NETWORK], ignored",
    "test.conf:10: [EXTRA]: unknown section, ignored",
  ]);
});

Deno.test("the original's rotation and memory-check keys are accepted with a reason", () => {
  const text = account() + `[OPTIONAL]
log_rotate_enabled = true
log_rotate_when = D
log_backup_count = 7
config_check_enable = true
`;
  const warnings = warningsOf(text);
  assert.equal(warnings.length, 4);
  for (const [i, key] of ["log_rotate_enabled", "log_rotate_when", "log_backup_count"].entries()) {
    assert.match(warnings[i], new RegExp(`^test\\.conf:${9 + i}: ${key}: ignored: .*logrotate`));
  }
  assert.match(
    warnings[3],
    /^test\.conf:12: config_check_enable: ignored: .*memory use is bounded/,
  );
});

// ---------------------------------------------------------------------------------------
// Entry points.

Deno.test("formatIssue omits line 0 and an empty key", () => {
  assert.equal(formatIssue({ file: "f", line: 3, key: "k", message: "m" }), "f:3: k: m");
  assert.equal(formatIssue({ file: "f", line: 0, key: "k", message: "m" }), "f: k: m");
  assert.equal(formatIssue({ file: "f", line: 2, key: "", message: "m" }), "f:2: m");
});

Deno.test("embedded default config", () => {
  const config = embeddedDefaultConfig("/w");
  assert.equal(config.source, "(embedded default)");
  assert.equal(config.listenAddress, "127.0.0.1");
  assert.equal(config.listenPort, 2121);
  assert.deepEqual(config.passivePorts, { min: 60000, max: 65535 });
  assert.equal(config.logDir, "");
  assert.equal(config.logLevel, "INFO");
  assert.equal(config.minPartSize, 8388608);
  assert.equal(config.maxLoginAttempts, 3);
  assert.deepEqual(config.accounts, [{
    section: "(embedded default)",
    homeDir: "/w/data",
    storage: { kind: "local", root: "/w/data" },
  }]);
  assert.deepEqual(config.users, [{
    name: "demo",
    password: "demo",
    canRead: true,
    canWrite: true,
    canDelete: true,
    account: 0,
  }]);
});

const EXAMPLE = new URL("../conf/vsftpd.conf.example", import.meta.url);

Deno.test("conf/vsftpd.conf.example loads with no errors, warning only of its plaintext password", async () => {
  const result = parseConfig(await Deno.readTextFile(EXAMPLE), "example", {}, CWD);
  assert.deepEqual(result.errors, []);
  const warnings = result.warnings.map(formatIssue);
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(
    warnings[0],
    /^example:\d+: ftp_login_user_password: plaintext password; use --hash/,
  );
  const config = result.config;
  assert.ok(config !== null);
  assert.deepEqual(config.accounts, [{
    section: "COS_ACCOUNT_1",
    homeDir: "/srv/ftp/data/local",
    storage: { kind: "local", root: "/srv/ftp/data/local" },
  }]);
  assert.deepEqual(config.users.map((u) => [u.name, u.canRead, u.canWrite, u.canDelete]), [
    ["user1", true, true, false],
  ]);
  assert.equal(config.listenPort, 2121);
  assert.equal(config.logDir, "/srv/ftp/log");
});

Deno.test("the example documents every key it accepts", async () => {
  const text = await Deno.readTextFile(EXAMPLE);
  const keys = [...CONFIG_KEYS.flatMap(namesOf), ...Object.keys(IGNORED_KEYS)];
  assert.ok(keys.length > 50, `${keys.length} keys`);
  for (const key of keys) assert.match(text, new RegExp(`\\b${key}\\b`), key);
});

Deno.test("loadConfigFile reads a file and reports a missing one", async () => {
  const missing = await loadConfigFile("/nonexistent/vsftpd.conf");
  assert.equal(missing.config, null);
  assert.deepEqual(missing.errors.map(formatIssue), ["/nonexistent/vsftpd.conf: file not found"]);
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "vsftpd.conf");
    await Deno.writeTextFile(path, account());
    const result = await loadConfigFile(path);
    assert.deepEqual(result.errors, []);
    assert.equal(result.config?.source, path);
    assert.equal(result.config?.users[0].name, "u0");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
