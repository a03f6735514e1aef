import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';

/**
 * Never lets undici pause on the chunk that completes a response body. undici 7 keeps the rest of a
 * chunk in its parser while a slow reader holds it paused; if the server then closes the connection
 * (`Connection: close`, which S3 sends at times, or an idle keep-alive timeout once everything was
 * sent), undici throws an assertion from a socket event, which ends the process, or fails a response
 * that had fully arrived ("other side closed"). Taking the last chunk regardless of back-pressure lets
 * the response complete first; it costs at most one chunk of buffering.
 */
export const completeBodiesBeforePausing: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) =>
  dispatch(options, new CompleteBodyHandler(handler));

type Controller = Dispatcher.DispatchController;

class CompleteBodyHandler implements Dispatcher.DispatchHandler {
  /** Body bytes still to come, when the response announced its length. */
  private remainingBytes: number | undefined;

  constructor(private readonly handler: Dispatcher.DispatchHandler) {}

  // biome-ignore lint/suspicious/noExplicitAny: undici types the request context as any.
  onRequestStart(controller: Controller, context: any): void {
    this.handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: IncomingHttpHeaders, socket: Duplex): void {
    this.handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(controller: Controller, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    const length = Number(headers['content-length']);
    this.remainingBytes = statusCode >= 200 && Number.isSafeInteger(length) ? length : undefined;
    this.handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    this.handler.onResponseData?.(controller, chunk);
    if (this.remainingBytes === undefined) return;
    this.remainingBytes -= chunk.length;
    if (this.remainingBytes <= 0 && controller.paused) controller.resume();
  }

  onResponseEnd(controller: Controller, trailers: IncomingHttpHeaders): void {
    this.handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Controller, error: Error): void {
    this.handler.onResponseError?.(controller, error);
  }
}
