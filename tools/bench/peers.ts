/**
 * The C and Python FTP servers the benchmark compares the gateway with, on
 * the same machine and the same files: vsftpd (Debian `vsftpd`, standalone,
 * anonymous with uploads) and pyftpdlib (Debian `python3-pyftpdlib`). A
 * server that is not installed, or cannot run here, is skipped with a reason.
 */

import { freePort } from "./server_process.ts";

/** A running peer server: where to log in and where its files land on disk. */
export interface Peer {
  name: string;
  port: number;
  user: string;
  password: string;
  /** The FTP directory uploads go to ("" = the login directory). */
  remoteDir: string;
  /** That directory on disk. */
  localDir: string;
  stop(): Promise<void>;
}

/** What could not be started, and why. */
export interface Skipped {
  name: string;
  reason: string;
}

const VSFTPD = "/usr/sbin/vsftpd";
/** Debian's own interpreter: the package installs pyftpdlib for it, not for other pythons. */
const DEBIAN_PYTHON = "/usr/bin/python3";

/** Starts every peer that can run here, each in its own directory below `work`. */
export async function startPeers(work: string): Promise<{ peers: Peer[]; skipped: Skipped[] }> {
  const peers: Peer[] = [];
  const skipped: Skipped[] = [];
  for (const start of [startVsftpd, startPyftpdlib]) {
    const result = await start(work);
    if ("reason" in result) skipped.push(result);
    else peers.push(result);
  }
  return { peers, skipped };
}

/**
 * vsftpd as an anonymous server with uploads. It refuses a chroot root the
 * anonymous user can write to, so the root is read-only and uploads go to
 * `up/`. It changes to the `ftp` user and chroots, which needs root.
 */
async function startVsftpd(work: string): Promise<Peer | Skipped> {
  const name = "vsftpd";
  if (!await exists(VSFTPD)) return { name, reason: `${VSFTPD} not found (apt install vsftpd)` };
  if (Deno.uid() !== 0) return { name, reason: "needs root (it chroots and drops to user ftp)" };
  const root = `${work}/vsftpd`;
  await Deno.mkdir(`${root}/up`, { recursive: true });
  await Deno.chmod(root, 0o755);
  await Deno.chmod(`${root}/up`, 0o777);
  const port = freePort();
  const config = `${work}/vsftpd.conf`;
  await Deno.writeTextFile(
    config,
    [
      "listen=YES",
      "listen_ipv6=NO",
      "listen_address=127.0.0.1",
      `listen_port=${port}`,
      "background=NO",
      "anonymous_enable=YES",
      "no_anon_password=YES",
      `anon_root=${root}`,
      "local_enable=NO",
      "write_enable=YES",
      "anon_upload_enable=YES",
      "anon_mkdir_write_enable=YES",
      // Lets a run replace the file an earlier run uploaded.
      "anon_other_write_enable=YES",
      "anon_umask=022",
      "chown_uploads=NO",
      "seccomp_sandbox=NO",
      "xferlog_enable=NO",
      "dirmessage_enable=NO",
      "connect_from_port_20=NO",
      "pasv_min_port=44000",
      "pasv_max_port=44999",
    ].join("\n") + "\n",
  );
  const child = new Deno.Command(VSFTPD, { args: [config], stdout: "null", stderr: "piped" })
    .spawn();
  return await ready(name, child, port, {
    user: "anonymous",
    password: "bench@",
    remoteDir: "up",
    localDir: `${root}/up`,
  });
}

/** pyftpdlib's stock server: anonymous, writable (`-w`). */
async function startPyftpdlib(work: string): Promise<Peer | Skipped> {
  const name = "pyftpdlib";
  const probe = await new Deno.Command(DEBIAN_PYTHON, {
    args: ["-c", "import pyftpdlib"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => null);
  if (!probe?.success) {
    return {
      name,
      reason: `${DEBIAN_PYTHON} cannot import pyftpdlib (apt install python3-pyftpdlib)`,
    };
  }
  const root = `${work}/pyftpdlib`;
  await Deno.mkdir(root, { recursive: true });
  const port = freePort();
  const args = ["-m", "pyftpdlib", "-i", "127.0.0.1", "-p", String(port), "-w", "-d", root];
  const child = new Deno.Command(DEBIAN_PYTHON, {
    args: [...args, "-r", "45000-45999"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  return await ready(name, child, port, {
    user: "anonymous",
    password: "bench@",
    remoteDir: "",
    localDir: root,
  });
}

/** The peer once it answers on `port`, or why it did not. */
async function ready(
  name: string,
  child: Deno.ChildProcess,
  port: number,
  login: Omit<Peer, "name" | "port" | "stop">,
): Promise<Peer | Skipped> {
  // Drained as it comes, so a chatty server never blocks on a full pipe.
  const errors = new Response(child.stderr).text();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
    await errors;
  };
  for (let i = 0; i < 50; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port }).catch(() => null);
    if (conn) {
      conn.close();
      return { name, port, ...login, stop };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  return { name, reason: `did not start: ${(await errors).trim().slice(0, 200)}` };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
