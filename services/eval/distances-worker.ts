// The worker thread of distances-thread.ts: fits the Gaussians, computes both distances, posts
// them (or the error) and ends.
import { parentPort, workerData } from 'node:worker_threads';
import { distancesTo, fitEmbeddings } from './distances.ts';
import type { DistanceJob, DistanceReply } from './distances-thread.ts';

const job = workerData as DistanceJob;
let reply: DistanceReply;
try {
  reply = { distances: distancesTo(fitEmbeddings(job.embeddings), job.reference) };
} catch (e) {
  reply = { error: e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) } };
}
parentPort!.postMessage(reply);
