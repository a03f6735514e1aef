import type { Logger } from 'pino';
import type { Config } from './config.js';
import { createNode, type FalconNode, type NodeOverrides } from './node.js';
import { serve, type ServingNode } from './serve.js';

export interface RunningGateway extends ServingNode {
  node: FalconNode;
  metrics: FalconNode['metrics'];
  /** The upstream actually used: the configured one or the embedded local server. */
  upstreamEndpoint: string;
  /** The key pair made up at start when none was configured. */
  generatedKey: FalconNode['generatedKey'];
}

export type GatewayOverrides = NodeOverrides;

/** Builds a node from `config` and serves it on `config.host`/`config.port`. */
export async function startGateway(config: Config, logger: Logger, overrides: GatewayOverrides = {}): Promise<RunningGateway> {
  const node = await createNode(config, logger, overrides);
  let serving: ServingNode;
  try {
    serving = await serve(node, {
      host: config.host,
      port: config.port,
      clientIdleTimeoutMs: config.clientIdleTimeoutMs,
      overload: { maxInFlight: config.maxInFlightRequests, maxEventLoopDelayMs: config.maxEventLoopDelayMs },
      logger,
    });
  } catch (err) {
    await node.close();
    throw err;
  }
  return { ...serving, node, metrics: node.metrics, upstreamEndpoint: node.upstreamEndpoint, generatedKey: node.generatedKey };
}
