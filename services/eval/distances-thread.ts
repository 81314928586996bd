// distances.ts on a worker thread, one thread per call: the symmetric eigen-decomposition of a
// 1,024 x 1,024 matrix behind the feature distance takes ~12 s on this machine's cores, which a
// trainer can spend training (the in-process trainer's periodic evaluation) and a service
// answering heartbeats (the generator's). The numbers are the same as on the calling thread: the
// same code on copies of the same float32 embeddings and float64 statistics.
import { startTsWorker } from '../core/ts-worker.ts';
import { EvalInputError } from './errors.ts';
import type { Distances, Embeddings, ReferenceStats } from './distances.ts';

export interface DistanceJob {
  embeddings: Embeddings;
  reference: ReferenceStats;
}

/** What the worker posts back: the distances, or the error it met (name and message). */
export type DistanceReply = { distances: Distances } | { error: { name: string; message: string } };

export function distancesOffThread(embeddings: Embeddings, reference: ReferenceStats): Promise<Distances> {
  const worker = startTsWorker(new URL('./distances-worker.ts', import.meta.url), { workerData: { embeddings, reference } satisfies DistanceJob });
  return new Promise<Distances>((resolve, reject) => {
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      f();
      void worker.terminate();
    };
    worker.once('message', (m: DistanceReply) => settle(() => {
      if ('distances' in m) resolve(m.distances);
      else reject(m.error.name === 'EvalInputError' ? new EvalInputError(m.error.message) : new Error(`${m.error.name}: ${m.error.message}`));
    }));
    worker.once('error', (e) => settle(() => reject(e)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the Fréchet distance worker exited with code ${code} before answering`))));
  });
}
