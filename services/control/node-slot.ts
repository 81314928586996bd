// The model a service process currently serves. Every `restore` builds a fresh node (from the
// checkpoint, or from the seeded initial weights) and swaps it in; the gRPC service, built once
// at start-up, reaches the current node through `view`, a forwarding proxy.
import { ServiceError } from './errors.ts';

export class NodeSlot<T extends { dispose(): void }> {
  private node: T | undefined;
  /** Forwards every property read, write and method call to the current node. */
  readonly view: T;

  constructor(private readonly role: string) {
    this.view = new Proxy({} as T, {
      get: (_target, key) => {
        const node = this.get();
        const value: unknown = Reflect.get(node, key);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(node) : value;
      },
      set: (_target, key, value) => Reflect.set(this.get(), key, value),
    });
  }

  get current(): T | undefined {
    return this.node;
  }

  /** The current node; before the first restore a 'not-ready' error ("... not restored yet"). */
  get(): T {
    if (!this.node) throw new ServiceError('not-ready', `the ${this.role} is not restored yet; no model to serve`);
    return this.node;
  }

  replace(next: T): void {
    const prev = this.node;
    this.node = next;
    prev?.dispose();
  }

  dispose(): void {
    this.node?.dispose();
    this.node = undefined;
  }
}
