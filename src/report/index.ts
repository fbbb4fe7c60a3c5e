export { buildReport } from './html.js';
export { reportDataFromRun, writeReport, type ReportOptions } from './read.js';
export { embedFeatures, type EmbedOptions } from './umap.js';
export { CHART_IDS, type ReportData, type ScoreGroup } from './types.js';
