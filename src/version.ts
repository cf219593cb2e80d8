/** The release, shown by `--version`, STAT and the startup log. */
export const VERSION = "0.1.0";
