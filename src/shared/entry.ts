// Helpers for the two entry points (src/api/server.ts, src/worker/main.ts) only.
import { ConfigError, loadConfig, type Config } from './config/config.ts';
import type { Logger } from './logger.ts';
import { errorSummary } from './errors.ts';

/** Invalid configuration stops the process with one line naming the variables, exit code 2. */
export function loadConfigOrExit<C = Config>(processName: string, env: Record<string, string | undefined>, load: (env: Record<string, string | undefined>) => C = loadConfig as never): C {
  try {
    return load(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${processName}: ${err.message}\n`);
    process.exit(2);
  }
}

/**
 * SIGTERM/SIGINT run `stop` once; a second signal or a stop slower than `hardLimitMs` exits
 * anyway (non-zero), so an orchestrator never waits on a wedged process.
 */
export function onShutdown(logger: Logger, hardLimitMs: number, stop: () => Promise<void>): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ hardLimitMs }, 'shutdown took too long: exiting');
      process.exit(1);
    }, hardLimitMs).unref();
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err: errorSummary(err) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}
