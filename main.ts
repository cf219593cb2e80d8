/**
 * cos-ftp-server: an FTP/FTPS gateway to Tencent Cloud Object Storage.
 * See README.md; `--help` lists the options.
 *
 * @module
 */

import { main } from "./src/cli.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
