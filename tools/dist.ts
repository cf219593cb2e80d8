/**
 * `deno task dist`: builds the offline tarball
 * `dist/cos-ftp-server-<version>-<os>-<arch>.tar.gz`, for machines without internet:
 *
 *     cos-ftp-server-<version>/
 *       cos-ftp-server            launcher (POSIX sh)
 *       bin/deno                  a copy of the deno running this tool
 *       app/cos-ftp-server.js     main.ts and all its dependencies, bundled
 *       conf/vsftpd.conf.example
 *       README.md
 *       install.sh                puts the package, config, unit and logrotate file in place
 *       deploy/systemd/cos-ftp-server.service
 *       deploy/logrotate/cos-ftp-server
 *
 * Unlike `deno compile`, this needs nothing from the internet: the runtime is the deno
 * already here, and `deno bundle` inlines npm packages so the launcher never resolves or
 * downloads a module.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { VERSION } from "../src/version.ts";
import { SERVER_PERMISSIONS } from "./permissions.ts";

/** The repository root (this file lives in tools/). */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = `${ROOT}dist`;
/** The top directory inside the tarball. */
const TOP = `cos-ftp-server-${VERSION}`;

/** Runs the tool; resolves to the process exit code. */
export async function main(): Promise<number> {
  await Deno.mkdir(DIST, { recursive: true });
  // Staging inside dist/ keeps the final rename on one file system, and a failed or
  // concurrent build never leaves a half-written tarball under the final name.
  const staging = await Deno.makeTempDir({ dir: DIST, prefix: ".staging-" });
  try {
    await assemble(`${staging}/${TOP}`);
    const tarball = tarballName();
    await tar(staging, `${staging}/${tarball}`);
    await Deno.rename(`${staging}/${tarball}`, `${DIST}/${tarball}`);
    const size = (await Deno.stat(`${DIST}/${tarball}`)).size;
    console.log(`${DIST}/${tarball} (${(size / 1024 / 1024).toFixed(1)} MiB)`);
    return 0;
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
}

/** The tarball's file name: cos-ftp-server-<version>-<os>-<arch>.tar.gz. */
export function tarballName(): string {
  return `${TOP}-${Deno.build.os}-${Deno.build.arch}.tar.gz`;
}

/** Fills `top` with the package's files. */
async function assemble(top: string): Promise<void> {
  for (const dir of ["bin", "app", "conf"]) await Deno.mkdir(`${top}/${dir}`, { recursive: true });
  await bundle(`${top}/app/cos-ftp-server.js`);
  await Deno.copyFile(Deno.execPath(), `${top}/bin/deno`);
  await Deno.chmod(`${top}/bin/deno`, 0o755);
  await Deno.copyFile(`${ROOT}conf/vsftpd.conf.example`, `${top}/conf/vsftpd.conf.example`);
  await writeReadme(`${top}/README.md`);
  await copyDeployFiles(top);
  await Deno.writeTextFile(`${top}/cos-ftp-server`, launcherScript());
  await Deno.chmod(`${top}/cos-ftp-server`, 0o755);
}

/** The service files (README "Running as a service") and install.sh, which installs them. */
async function copyDeployFiles(top: string): Promise<void> {
  for (const file of DEPLOY_FILES) {
    await Deno.mkdir(`${top}/${file.slice(0, file.lastIndexOf("/"))}`, { recursive: true });
    await Deno.copyFile(`${ROOT}${file}`, `${top}/${file}`);
  }
  await Deno.copyFile(`${ROOT}deploy/install.sh`, `${top}/install.sh`);
  await Deno.chmod(`${top}/install.sh`, 0o755);
}

/** Files of deploy/ the package carries, at the same paths. */
const DEPLOY_FILES = ["deploy/systemd/cos-ftp-server.service", "deploy/logrotate/cos-ftp-server"];

/** Bundles main.ts into one file that imports nothing but Deno's node: built-ins. */
async function bundle(output: string): Promise<void> {
  await run(Deno.execPath(), [
    "bundle",
    "--platform",
    "deno",
    // Inline npm packages: the package has no node_modules and may not reach a registry.
    "--packages",
    "bundle",
    "--output",
    output,
    "main.ts",
  ]);
  const external = externalImports(await Deno.readTextFile(output));
  if (external.length > 0) {
    throw new Error(`the bundle still imports ${external.join(", ")}; it would need a network`);
  }
}

/** Module specifiers the bundle imports that are not node: built-ins (which deno provides). */
export function externalImports(code: string): string[] {
  // `import x from "m"`, `export * from "m"`, `import "m"` and `import("m")`.
  const pattern =
    /(?:^|[\s;])(?:import|export)\s[^"';]*?from\s*["']([^"']+)["']|(?:^|[\s;])import\s*\(?\s*["']([^"']+)["']/g;
  const found = new Set<string>();
  for (const match of code.matchAll(pattern)) {
    const specifier = match[1] ?? match[2];
    if (!specifier.startsWith("node:")) found.add(specifier);
  }
  return [...found];
}

/** The repository's README, or a short one when the repository has none yet. */
async function writeReadme(path: string): Promise<void> {
  try {
    await Deno.copyFile(`${ROOT}README.md`, path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    console.error("warning: no README.md in the repository; writing a short one");
    await Deno.writeTextFile(path, fallbackReadme());
  }
}

function fallbackReadme(): string {
  return `# cos-ftp-server ${VERSION}

An FTP server that stores files in Tencent Cloud Object Storage (COS) or a local directory.

    ./cos-ftp-server --help
    ./cos-ftp-server --config conf/vsftpd.conf --check
    ./cos-ftp-server --config conf/vsftpd.conf

Copy conf/vsftpd.conf.example to conf/vsftpd.conf and edit it. Without a config file the
server runs a demo setup (127.0.0.1:2121, user demo / password demo, files in ./data).
Relative paths are relative to the directory the server is started from.

The package runs offline: bin/deno is the Deno runtime and app/cos-ftp-server.js the
bundled server.
`;
}

/** The launcher: finds its own directory and runs the bundle with the bundled deno. */
export function launcherScript(): string {
  const permissions = SERVER_PERMISSIONS.map((flag) => `'${flag}'`).join(" ");
  return `#!/bin/sh
# cos-ftp-server ${VERSION} launcher, generated by tools/dist.ts.
# It does not change directory: relative paths (--config, the config's directories) are
# relative to the directory it is started from.
set -e

# Follow symlinks, so that a link in e.g. /usr/local/bin still finds bin/ and app/.
self=$0
while [ -L "$self" ]; do
  link=$(readlink "$self")
  case $link in
    /*) self=$link ;;
    *) self=$(dirname -- "$self")/$link ;;
  esac
done
DIR=$(CDPATH= cd -P -- "$(dirname -- "$self")" && pwd)

# A cache of Deno's own (compiled code only; nothing is downloaded) inside the package, so
# the user's DENO_DIR neither matters nor changes. Deno also runs when it is not writable.
DENO_DIR="$DIR/cache"
# No update check (a network request), and no package.json or deno.json from the current
# directory can change how the bundle runs.
DENO_NO_UPDATE_CHECK=1
DENO_NO_PACKAGE_JSON=1
export DENO_DIR DENO_NO_UPDATE_CHECK DENO_NO_PACKAGE_JSON

# --no-remote, --no-npm and --cached-only: the bundle is self-contained, so any module
# fetch would be a bug, and it fails at once instead of reaching for the network.
# --no-prompt: a server must fail on a missing permission, not wait for a terminal answer.
exec "$DIR/bin/deno" run --no-config --no-lock --no-remote --no-npm --cached-only --no-prompt \\
  ${permissions} \\
  "$DIR/app/cos-ftp-server.js" "$@"
`;
}

/** Writes a gzipped tarball of `dir`/TOP to `output` with the system tar. */
async function tar(dir: string, output: string): Promise<void> {
  // With GNU tar, record root as the owner rather than whoever built the package.
  const gnu = (await capture("tar", ["--version"])).includes("GNU tar");
  const owner = gnu ? ["--owner=0", "--group=0", "--numeric-owner", "--sort=name"] : [];
  await run("tar", [...owner, "-C", dir, "-czf", output, TOP]);
}

/** Runs a command in ROOT with inherited output; throws when it fails. */
async function run(command: string, args: string[]): Promise<void> {
  const status = await new Deno.Command(command, { args, cwd: ROOT, stdin: "null" })
    .spawn().status;
  if (!status.success) {
    throw new Error(`${command} ${args.join(" ")} failed (exit code ${status.code})`);
  }
}

/** Runs a command and returns its stdout ("" when it cannot run). */
async function capture(command: string, args: string[]): Promise<string> {
  try {
    const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "null" })
      .output();
    return new TextDecoder().decode(output.stdout);
  } catch {
    return "";
  }
}

if (import.meta.main) Deno.exit(await main());
