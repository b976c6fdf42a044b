import type pg from 'pg';

/**
 * `COPY … FROM STDIN` with the `pg` client alone: a submittable query (the protocol `pg` itself
 * exposes to `client.query`) that answers the server's CopyInResponse by streaming `lines` (COPY text
 * format, each ending in `\n`) in chunks of about 1 MiB, waiting for the socket to drain between them.
 */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  readonly stream: NodeJS.WritableStream & { writableNeedDrain?: boolean };
}

export function copyFrom(
  client: pg.Client | pg.PoolClient,
  sql: string,
  lines: Iterable<string>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failure: Error | undefined;
    const stream = async (connection: CopyConnection) => {
      try {
        let chunk: string[] = [];
        let size = 0;
        for (const line of lines) {
          chunk.push(line);
          size += line.length;
          if (size < 1 << 20) continue;
          connection.sendCopyFromChunk(Buffer.from(chunk.join(''), 'utf8'));
          chunk = [];
          size = 0;
          if (connection.stream.writableNeedDrain) {
            await new Promise((drained) => connection.stream.once('drain', drained));
          }
        }
        if (chunk.length > 0) connection.sendCopyFromChunk(Buffer.from(chunk.join(''), 'utf8'));
        connection.endCopyFrom();
      } catch (error) {
        failure = error as Error;
        connection.sendCopyFail(String(error));
      }
    };
    const submittable = {
      submit: (connection: CopyConnection) => connection.query(sql),
      handleCopyInResponse: (connection: CopyConnection) => void stream(connection),
      handleError: (error: Error) => {
        failure ??= error;
      },
      handleReadyForQuery: () => (failure ? reject(failure) : resolve()),
      handleCommandComplete: () => {},
      handleRowDescription: () => {},
      handleDataRow: () => {},
      handleEmptyQuery: () => {},
      handlePortalSuspended: () => {},
      handleCopyData: () => {},
    };
    client.query(submittable as never);
  });
}
