#!/usr/bin/env node
import { type Config, helpText, parseConfig } from './config.js';
import { createLogger } from './observability/logger.js';
import { startGateway } from './server.js';
import { VERSION } from './version.js';

async function main(): Promise<number> {
  const parsed = parseConfig(process.argv.slice(2), process.env);
  switch (parsed.kind) {
    case 'help':
      console.log(helpText());
      return 0;
    case 'version':
      console.log(VERSION);
      return 0;
    case 'error':
      for (const message of parsed.messages) console.error(`falcon: ${message}`);
      console.error("Run 'falcon --help' for the flags.");
      return 2;
    case 'config':
      break;
  }
  const { config } = parsed;
  const logger = createLogger(config.verbose);
  const running = await startGateway(config, logger);
  const upstream = describeUpstream(config, running.upstreamEndpoint);
  const key = running.generatedKey;
  if (key !== undefined) {
    console.log(
      `No client keys configured: made up the key pair ${key.accessKeyId} / ${key.secretAccessKey} for this run (set --access-key and --secret-key, or --credentials-file).`,
    );
  }
  console.log(`Falcon ${VERSION} is serving S3 at ${running.url}; upstream: ${upstream}.`);
  if (config.upstream.kind === 'local') {
    const e = `--endpoint-url ${running.url}`;
    const region = config.clientRegions?.[0] ?? config.upstream.region;
    const exportLine =
      key !== undefined
        ? `  export AWS_ACCESS_KEY_ID=${key.accessKeyId} AWS_SECRET_ACCESS_KEY=${key.secretAccessKey} AWS_DEFAULT_REGION=${region}`
        : `  export AWS_ACCESS_KEY_ID=<your key> AWS_SECRET_ACCESS_KEY=<your secret> AWS_DEFAULT_REGION=${region}`;
    console.log(
      [
        'Nothing names an upstream S3 (no --s3-endpoint, --s3-region, AWS_REGION or AWS credentials), so objects are stored locally.',
        'Try it with the AWS CLI:',
        exportLine,
        `  aws ${e} s3 mb s3://demo`,
        `  aws ${e} s3 cp ./README.md s3://demo/README.md`,
        `  aws ${e} s3 cp s3://demo/README.md -`,
        `  aws ${e} s3 ls s3://demo`,
        '',
      ].join('\n'),
    );
  }
  logger.info({ url: running.url, upstream, upstreamKind: config.upstream.kind, version: VERSION }, 'falcon listening');
  const stop = (signal: string): void => {
    logger.info({ signal }, 'shutting down');
    // Requests in flight get a few seconds to finish, as a rolling update expects.
    running.close({ graceMs: config.shutdownGraceMs }).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return -1;
}

function describeUpstream(config: Config, endpoint: string): string {
  if (config.upstream.kind === 'local') return `embedded local S3 at ${endpoint}, data in ${config.upstream.directory}`;
  const where = config.upstream.endpoint === undefined ? `AWS S3 in ${config.upstream.region} (${endpoint})` : `${endpoint} (region ${config.upstream.region})`;
  return `${where}, signed with credentials from the standard AWS chain`;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    console.error(`falcon: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
