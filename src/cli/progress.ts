import cliProgress from 'cli-progress';
import type { EpochRecord, StepStats } from '../methods/train.js';

/**
 * A progress bar on stderr for training: loss, JSD, mean inlier/outlier energy, accuracy and
 * images/s per step, one line per finished epoch. Quiet mode (for --json or non-TTY logs) prints
 * only the epoch lines.
 */
export function createProgress(title: string, quiet = false) {
  const tty = process.stderr.isTTY && !quiet;
  const bar = tty
    ? new cliProgress.SingleBar({
      format: `${title} | epoch {epoch} {bar} {value}/{total} | loss {loss} | jsd {jsd} | E in/out {energy} | acc {acc} | {ips} img/s`,
      hideCursor: true, clearOnComplete: true, stream: process.stderr,
    }, cliProgress.Presets.shades_classic)
    : null;
  let started = false;
  let ipsSmoothed = 0;
  return {
    phase(p: string) {
      if (!quiet) process.stderr.write(`${title}: ${p}\n`);
    },
    step(s: StepStats) {
      ipsSmoothed = ipsSmoothed === 0 ? s.imagesPerSecond : 0.9 * ipsSmoothed + 0.1 * s.imagesPerSecond;
      if (!bar) return;
      const payload = {
        epoch: s.epoch + 1, loss: s.loss.toFixed(3), jsd: s.jsd === null ? '-' : s.jsd.toFixed(3),
        energy: s.energyIn === null || s.energyOut === null ? '-' : `${s.energyIn.toFixed(2)}/${s.energyOut.toFixed(2)}`,
        acc: s.accuracy.toFixed(2), ips: ipsSmoothed.toFixed(0),
      };
      if (!started || s.batch === 0) {
        if (started) bar.stop();
        bar.start(s.batches, s.batch + 1, payload);
        started = true;
      } else {
        bar.update(s.batch + 1, payload);
      }
    },
    epoch(e: EpochRecord) {
      if (bar && started) { bar.stop(); started = false; }
      process.stderr.write(`${title}: epoch ${e.epoch + 1} ce ${e.ce.toFixed(4)}${e.jsd === null ? '' : ` jsd ${e.jsd.toFixed(4)}`} `
        + `train acc ${(100 * e.trainAccuracy).toFixed(1)}% val acc ${(100 * e.valAccuracy).toFixed(1)}%${energyLine(e)} `
        + `(${e.seconds.toFixed(1)} s, ${ipsSmoothed.toFixed(0)} img/s)\n`);
    },
    stop() {
      if (bar && started) bar.stop();
    },
  };
}

/** " E in -3.12±0.80 out -1.05±0.40, 87.5% of outliers past γ" for an epoch with an outlier loss. */
export function energyLine(e: Pick<EpochRecord, 'energy'>): string {
  const g = e.energy;
  if (!g) return '';
  return ` E in ${g.inMean.toFixed(2)}±${g.inStd.toFixed(2)} out ${g.outMean.toFixed(2)}±${g.outStd.toFixed(2)}, `
    + `${(100 * g.outliersRejected).toFixed(1)}% of outliers past γ`;
}
