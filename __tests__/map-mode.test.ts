import { chooseMapMode } from '../src/plan/map-mode.ts';

const MiB = 1024 * 1024;

describe('choosing the map mode', () => {
  it('stays Inline at the limits: 1,000 partitions at concurrency 40', () => {
    expect(chooseMapMode('auto', { partitions: 1000, maxConcurrency: 40, largestPartitionBytes: 64 * MiB })).toEqual({
      mapMode: 'INLINE',
      childExecutionType: 'EXPRESS',
      reason: 'Map mode INLINE: 1,000 partitions at concurrency 40 fit an Inline Map.',
    });
  });

  it('says how many partitions a local run runs at once: its Lambda environments, not Inline’s 40', () => {
    expect(chooseMapMode('auto', { partitions: 4, maxConcurrency: 0, largestPartitionBytes: MiB, localEnvironments: 2 }).reason).toBe(
      'Map mode INLINE: 4 partitions at concurrency up to 40 fit an Inline Map; this local run has 2 Lambda environments, so at most 2 run at once.',
    );
    expect(chooseMapMode('auto', { partitions: 1, maxConcurrency: 0, largestPartitionBytes: MiB, localEnvironments: 8 }).reason).toBe(
      'Map mode INLINE: 1 partition at concurrency up to 40 fits an Inline Map; this local run has 8 Lambda environments, so at most 1 run at once.',
    );
    expect(chooseMapMode('distributed', { partitions: 3, maxConcurrency: 0, largestPartitionBytes: MiB, localEnvironments: 1 }).reason).toBe(
      'Map mode DISTRIBUTED: map-mode distributed was asked for; children EXPRESS: the largest partition should take about 1 s at 30 MB/s, well within the 5-minute EXPRESS limit; this local run has 1 Lambda environment, so at most 1 run at once.',
    );
  });

  it('goes Distributed one partition past the limit, and says why', () => {
    expect(chooseMapMode('auto', { partitions: 1001, maxConcurrency: 0, largestPartitionBytes: 64 * MiB }).reason).toBe(
      'Map mode DISTRIBUTED: 1,001 partitions are more than an Inline Map holds with room (1,000); children EXPRESS: the largest partition should take about 3 s at 30 MB/s, well within the 5-minute EXPRESS limit.',
    );
  });

  it('goes Distributed when the wanted concurrency passes 40', () => {
    expect(chooseMapMode('auto', { partitions: 200, maxConcurrency: 41, largestPartitionBytes: MiB })).toMatchObject({ mapMode: 'DISTRIBUTED', reason: expect.stringContaining('max concurrency 41 is over Inline\'s 40') });
  });

  it('runs children as STANDARD when the largest partition could not finish well within 5 minutes', () => {
    expect(chooseMapMode('distributed', { partitions: 10, maxConcurrency: 0, largestPartitionBytes: 1.8e9 })).toMatchObject({ childExecutionType: 'EXPRESS' });
    expect(chooseMapMode('distributed', { partitions: 10, maxConcurrency: 0, largestPartitionBytes: 1.8e9 + 30e6 })).toMatchObject({
      childExecutionType: 'STANDARD',
      reason: expect.stringContaining('should take about 61 s at 30 MB/s, too close to the 5-minute EXPRESS limit'),
    });
  });

  it('does what was asked, and warns when Inline was asked past its limits', () => {
    expect(chooseMapMode('inline', { partitions: 5000, maxConcurrency: 0, largestPartitionBytes: MiB })).toEqual({
      mapMode: 'INLINE',
      childExecutionType: 'EXPRESS',
      reason: 'Map mode INLINE: map-mode inline was asked for, although 5,000 partitions are more than an Inline Map holds with room (1,000).',
    });
    expect(chooseMapMode('inline', { partitions: 5000, maxConcurrency: 100, largestPartitionBytes: MiB }).reason).toBe(
      "Map mode INLINE: map-mode inline was asked for, although 5,000 partitions are more than an Inline Map holds with room (1,000) and max concurrency 100 is over Inline's 40.",
    );
    expect(chooseMapMode('distributed', { partitions: 3, maxConcurrency: 0, largestPartitionBytes: MiB }).mapMode).toBe('DISTRIBUTED');
    // Distributed past Inline's limits is no warning: it is what those limits call for.
    expect(chooseMapMode('distributed', { partitions: 5000, maxConcurrency: 100, largestPartitionBytes: MiB }).reason).toBe(
      'Map mode DISTRIBUTED: map-mode distributed was asked for; children EXPRESS: the largest partition should take about 1 s at 30 MB/s, well within the 5-minute EXPRESS limit.',
    );
  });

  it('says each reason in full: concurrency as the Map allows, both limits passed, and what was asked within the limits', () => {
    expect(chooseMapMode('auto', { partitions: 7, maxConcurrency: 0, largestPartitionBytes: MiB }).reason).toBe('Map mode INLINE: 7 partitions at concurrency up to 40 fit an Inline Map.');
    expect(chooseMapMode('auto', { partitions: 1500, maxConcurrency: 50, largestPartitionBytes: 3e9 })).toEqual({
      mapMode: 'DISTRIBUTED',
      childExecutionType: 'STANDARD',
      reason:
        "Map mode DISTRIBUTED: 1,500 partitions are more than an Inline Map holds with room (1,000) and max concurrency 50 is over Inline's 40; children STANDARD: the largest partition should take about 100 s at 30 MB/s, too close to the 5-minute EXPRESS limit.",
    });
    expect(chooseMapMode('inline', { partitions: 3, maxConcurrency: 2, largestPartitionBytes: MiB }).reason).toBe('Map mode INLINE: map-mode inline was asked for.');
    expect(chooseMapMode('distributed', { partitions: 3, maxConcurrency: 2, largestPartitionBytes: 45e6 }).reason).toBe(
      'Map mode DISTRIBUTED: map-mode distributed was asked for; children EXPRESS: the largest partition should take about 2 s at 30 MB/s, well within the 5-minute EXPRESS limit.',
    );
  });
});
