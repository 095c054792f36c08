import { describe, expect, it } from 'vitest';
import { SerialQueue } from '../../src/core/serial-queue.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

const tick = (): Promise<void> => new Promise((done) => setImmediate(done));

describe('SerialQueue', () => {
  it('runs tasks one at a time, in order, even when they await', async () => {
    const queue = new SerialQueue();
    const log: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const gates = [deferred(), deferred(), deferred()];
    const results = gates.map((gate, index) =>
      queue.run(async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        log.push(`start ${index}`);
        await gate.promise;
        log.push(`end ${index}`);
        running -= 1;
        return index * 10;
      }),
    );
    await tick();
    expect(log).toEqual(['start 0']);
    // Release the later gates first: order must still follow the queue.
    gates[2]!.resolve();
    gates[1]!.resolve();
    await tick();
    expect(log).toEqual(['start 0']);
    gates[0]!.resolve();
    expect(await Promise.all(results)).toEqual([0, 10, 20]);
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    expect(maxRunning).toBe(1);
  });

  it('does not start a task before the previous one settles', async () => {
    const queue = new SerialQueue();
    const gate = deferred();
    let secondStarted = false;
    const first = queue.run(() => gate.promise);
    const second = queue.run(async () => {
      secondStarted = true;
    });
    await tick();
    expect(secondStarted).toBe(false);
    gate.resolve();
    await first;
    await second;
    expect(secondStarted).toBe(true);
  });

  it('a rejected task rejects its own promise and does not block later ones', async () => {
    const queue = new SerialQueue();
    const log: string[] = [];
    const failing = queue.run(async () => {
      log.push('fail');
      throw new Error('boom');
    });
    const after = queue.run(async () => {
      log.push('after');
      return 'ok';
    });
    await expect(failing).rejects.toThrow('boom');
    await expect(after).resolves.toBe('ok');
    expect(log).toEqual(['fail', 'after']);
    await expect(queue.run(async () => 'still works')).resolves.toBe('still works');
  });

  it('a task that throws synchronously rejects without blocking the queue', async () => {
    const queue = new SerialQueue();
    const thrown = queue.run((() => {
      throw new Error('sync');
    }) as () => Promise<never>);
    await expect(thrown).rejects.toThrow('sync');
    await expect(queue.run(async () => 1)).resolves.toBe(1);
  });
});
