// Whether a deployment wires a discriminator replica group the way the local launcher does
// (services/launcher/local-cluster.ts): rank r gets GANTRY_DISCRIMINATOR_RANK=r and every rank's
// address in rank order, the generator calls rank 0, the scheduler has the same list, and the
// training config's discriminatorReplicas is the number of ranks. Each process's environment is
// read by that process's own config parser, so what is checked is what the services would see.
import { resolveDiscriminatorConfig } from '../../services/discriminator/config.ts';
import { resolveGeneratorConfig } from '../../services/generator/config.ts';
import { resolveSchedulerConfig } from '../../services/scheduler/config.ts';
import { ganTrainSchema, parseConfig } from '../../services/train/config.ts';

export interface GroupWiring {
  /** The environment of each discriminator process, in the order of `addresses`. */
  ranks: readonly NodeJS.ProcessEnv[];
  generator: NodeJS.ProcessEnv;
  scheduler: NodeJS.ProcessEnv;
  /** The parsed train.json the scheduler is given. */
  train: unknown;
  /** Every rank's address as the deployment names it (pod r of the headless Service, or the
   *  r-th Compose service), derived from the manifests independently of the variables. */
  addresses: readonly string[];
}

const same = (a: readonly string[] | undefined, b: readonly string[]) => a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);

/** One message per inconsistency; empty when the group is wired right. Parse failures are messages too. */
export function discriminatorGroupErrors(w: GroupWiring): string[] {
  const errors: string[] = [];
  const attempt = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  };
  const want = w.addresses.join(',');
  attempt('train.json', () => {
    const n = parseConfig(ganTrainSchema, w.train, 'train.json').discriminatorReplicas ?? 1;
    if (n !== w.ranks.length) errors.push(`train.json: discriminatorReplicas is ${n}, but ${w.ranks.length} discriminator processes run`);
  });
  if (w.addresses.length !== w.ranks.length) errors.push(`${w.addresses.length} addresses for ${w.ranks.length} discriminator processes`);
  w.ranks.forEach((env, r) => attempt(`discriminator rank ${r}`, () => {
    const cfg = resolveDiscriminatorConfig(env, {});
    if (cfg.rank !== r) errors.push(`discriminator ${r}: GANTRY_DISCRIMINATOR_RANK gives rank ${cfg.rank}`);
    if (!same(cfg.replicaAddrs, w.addresses)) errors.push(`discriminator ${r}: GANTRY_DISCRIMINATOR_ADDRS is ${cfg.replicaAddrs?.join(',')}, expected ${want}`);
    if (cfg.advertiseAddr !== undefined && cfg.advertiseAddr !== w.addresses[r]) {
      errors.push(`discriminator ${r}: advertises ${cfg.advertiseAddr}, but the group addresses it as ${w.addresses[r]}`);
    }
  }));
  attempt('generator', () => {
    const addr = resolveGeneratorConfig(w.generator, {}).discriminatorAddr;
    if (addr !== w.addresses[0]) errors.push(`generator: GANTRY_DISCRIMINATOR_ADDR is ${addr}, expected rank 0's ${w.addresses[0]}`);
  });
  attempt('scheduler', () => {
    const cfg = resolveSchedulerConfig(w.scheduler, {});
    if (!same(cfg.discriminatorAddrs, w.addresses)) errors.push(`scheduler: GANTRY_DISCRIMINATOR_ADDRS is ${cfg.discriminatorAddrs?.join(',')}, expected ${want}`);
    if (cfg.discriminatorAddr !== w.addresses[0]) errors.push(`scheduler: GANTRY_DISCRIMINATOR_ADDR is ${cfg.discriminatorAddr}, expected rank 0's ${w.addresses[0]}`);
  });
  return errors;
}
