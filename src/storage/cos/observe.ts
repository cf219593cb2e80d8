/**
 * Watching COS requests for the metrics, without touching each call site:
 * the SDK client is wrapped once (every method call that returns a promise
 * or takes a callback is one timed request), and signedFetch reports its own.
 *
 * @module
 */

/** Hears about one finished COS request: its operation, outcome and seconds to the answer. */
export type CosRequestObserver = (operation: string, outcome: string, seconds: number) => void;

/** `2xx` / `4xx` / `5xx` by HTTP status; `error` when no answer came (network, timeout). */
export function outcomeOf(status: number | undefined): string {
  return typeof status === "number" && status >= 100 && status < 600
    ? `${Math.floor(status / 100)}xx`
    : "error";
}

/** The outcome of an SDK failure (its errors carry `statusCode` when COS answered). */
function outcomeOfError(error: unknown): string {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return outcomeOf(typeof status === "number" ? status : undefined);
}

/**
 * The SDK client with each request method timed. Methods call each other on
 * the unwrapped client, so a composite call (sliceCopyFile) counts once,
 * under its own name; names are the SDK's fixed method set (bounded labels).
 */
export function observedSdk<T extends object>(sdk: T, observe: CosRequestObserver): T {
  const wrappers = new Map<string, (...args: unknown[]) => unknown>();
  return new Proxy(sdk, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function" || typeof property !== "string") return value;
      let wrapper = wrappers.get(property);
      if (!wrapper) {
        wrapper = timed(property, value.bind(target), observe);
        wrappers.set(property, wrapper);
      }
      return wrapper;
    },
  });
}

function timed(
  operation: string,
  method: (...args: unknown[]) => unknown,
  observe: CosRequestObserver,
): (...args: unknown[]) => unknown {
  return (...args: unknown[]) => {
    const started = performance.now();
    const done = (outcome: string) =>
      observe(operation, outcome, (performance.now() - started) / 1000);
    const last = args.at(-1);
    if (typeof last === "function") {
      args[args.length - 1] = (error: unknown, data: unknown) => {
        done(error ? outcomeOfError(error) : "2xx");
        return last(error, data);
      };
      return method(...args);
    }
    const result = method(...args);
    if (isThenable(result)) {
      // A side branch: the caller still gets (and handles) the original promise.
      result.then(() => done("2xx"), (error) => done(outcomeOfError(error)));
    }
    return result;
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}
