/**
 * The feature-based detectors' fitted state as it travels in detector.json and a bundle's ares.json:
 * `{ name, state }` with the state in compact JSON (base64 arrays). One place turns a fitted detector
 * into that form, checks it when read, and scores with it, so `ares eval`, `ares predict` and the
 * exported loader (Node and browser) all run the same code.
 */
import { AresError } from '../errors.js';
import { knnScores, decodeKnnBank, knnStateFromJson, type KnnState } from './knn.js';
import { mahalanobisStateFromJson, mahalanobisStateToJson, minSquaredDistances, whitenMeans, type MahalanobisState } from './mahalanobis.js';
import { prepareRmds, rmdsScores, rmdsStateFromJson, rmdsStateToJson, type RmdsState } from './rmds.js';
import { ashScores, shapingStateFromJson, shapingStateToJson, type ShapingState } from './ash.js';
import { reactScores, reactStateFromJson, reactStateToJson, type ReactState } from './react.js';
import { scaleScores } from './scale.js';
import { FITTED_SCORE_NAMES, type Detector, type FittedScoreName, type OutputsIn, readMatrix } from './types.js';
import { vimScores, vimStateFromJson, vimStateToJson, type VimState } from './vim.js';

export { FITTED_SCORE_NAMES, type FittedScoreName } from './types.js';

/** A fitted feature-based score in detector.json. */
export interface FittedScoreSpec {
  name: FittedScoreName;
  /** Compact JSON of the detector's state (see each detector's *StateToJson). */
  state: Record<string, unknown>;
}

export const isFittedScoreName = (v: unknown): v is FittedScoreName => (FITTED_SCORE_NAMES as readonly unknown[]).includes(v);

/** The detector.json form of a fitted mahalanobis, knn, vim, rmds, react, ash or scale detector. */
export function fittedScoreSpec(d: Detector<OutputsIn, unknown, unknown>): FittedScoreSpec {
  if (!isFittedScoreName(d.name)) throw new AresError(`${d.name} has no fitted state to store`);
  if (d.state === null) throw new AresError(`${d.name} must be fitted before its state can be stored`);
  switch (d.name) {
    case 'mahalanobis': return { name: d.name, state: mahalanobisStateToJson(d.state as MahalanobisState, { compact: true }) };
    case 'knn': return { name: d.name, state: { ...(d.state as KnnState) } };
    case 'vim': return { name: d.name, state: vimStateToJson(d.state as VimState) };
    case 'rmds': return { name: d.name, state: rmdsStateToJson(d.state as RmdsState) };
    case 'react': return { name: d.name, state: reactStateToJson(d.state as ReactState) };
    case 'ash': case 'scale': return { name: d.name, state: shapingStateToJson(d.state as ShapingState) };
  }
}

/** The typed state of a spec read from a file; throws AresError naming `file` when it is malformed. */
export function parseFittedState(name: FittedScoreName, state: unknown, file?: string): MahalanobisState | KnnState | VimState | RmdsState | ReactState | ShapingState {
  switch (name) {
    case 'mahalanobis': return mahalanobisStateFromJson(state, file);
    case 'knn': return knnStateFromJson(state, file);
    case 'vim': return vimStateFromJson(state, file);
    case 'rmds': return rmdsStateFromJson(state, file);
    case 'react': return reactStateFromJson(state, file);
    case 'ash': case 'scale': return shapingStateFromJson(name, state, file);
  }
}

/** A scorer for a checked spec: outputs (logits + features) → one score per row, higher = more ID. */
export function fittedScorer(spec: FittedScoreSpec, file?: string): (o: OutputsIn) => Float64Array {
  const features = (o: OutputsIn) => {
    if (!o.features) throw new AresError(`${spec.name} scores penultimate features; the model gives none`);
    return readMatrix(o.features, `${spec.name} features`);
  };
  switch (spec.name) {
    case 'mahalanobis': {
      const s = mahalanobisStateFromJson(spec.state, file);
      const wm = whitenMeans(s);
      return (o) => {
        const x = features(o);
        if (x.cols !== s.dim) throw new AresError(`mahalanobis was fitted on ${s.dim}-d features, got ${x.cols}-d`);
        return minSquaredDistances(s, wm, x).map((v) => -v);
      };
    }
    case 'knn': {
      const bank = decodeKnnBank(knnStateFromJson(spec.state, file));
      return (o) => knnScores(bank, features(o));
    }
    case 'vim': {
      const s = vimStateFromJson(spec.state, file);
      return (o) => vimScores(s, o);
    }
    case 'rmds': {
      const p = prepareRmds(rmdsStateFromJson(spec.state, file));
      return (o) => rmdsScores(p, features(o));
    }
    case 'react': {
      const s = reactStateFromJson(spec.state, file);
      return (o) => reactScores(s, { logits: o.logits, features: features(o) });
    }
    case 'ash': {
      const s = shapingStateFromJson('ash', spec.state, file);
      return (o) => ashScores(s, { logits: o.logits, features: features(o) });
    }
    case 'scale': {
      const s = shapingStateFromJson('scale', spec.state, file);
      return (o) => scaleScores(s, { logits: o.logits, features: features(o) });
    }
  }
}
