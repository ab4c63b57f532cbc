// Charts of the organizer's dashboard, drawn by the vendored Chart.js
// (assets/vendor/chart.umd.js, fetched by scripts/vendor-chartjs.sh; loaded on first use).
//
// Chart.js's UMD build, imported as a module, defines `globalThis.Chart`.

const CHART_MODULE = '/app/assets/vendor/chart.umd.js';

let loading = null;

/** The Chart constructor (loads the library once). */
export function chartLib() {
  if (!loading) {
    loading = import(CHART_MODULE).then(() => {
      if (typeof globalThis.Chart !== 'function') throw new Error('The charting library did not load.');
      return globalThis.Chart;
    }).catch((err) => {
      loading = null;
      throw err;
    });
  }
  return loading;
}

export const COLORS = {
  primary: '#1d4ed8',
  primaryFill: 'rgb(29 78 216 / 20%)',
  ok: '#067647',
  okFill: 'rgb(6 118 71 / 65%)',
  warn: '#b54708',
  grid: '#e5e7eb',
  text: '#5b6475',
};

/**
 * The last `hours` whole hours ending with the current one, with the counts of
 * `points` ([{hour, count}], hours as RFC 3339) put in their hour (missing hours are 0).
 */
export function hourlySeries(points, hours = 48, now = new Date()) {
  const end = new Date(now);
  end.setMinutes(0, 0, 0);
  const counts = new Map();
  for (const p of points || []) {
    const t = new Date(p.hour);
    if (Number.isNaN(t.getTime())) continue;
    t.setMinutes(0, 0, 0);
    counts.set(t.getTime(), (counts.get(t.getTime()) || 0) + Number(p.count || 0));
  }
  const out = [];
  for (let i = hours - 1; i >= 0; i -= 1) {
    const t = new Date(end.getTime() - i * 3600_000);
    out.push({ hour: t, count: counts.get(t.getTime()) || 0 });
  }
  return out;
}

/** Options shared by the dashboard's charts: no animation (it is redrawn on every poll). */
export function baseOptions({ horizontal = false, legend = false } = {}) {
  const valueAxis = { beginAtZero: true, ticks: { precision: 0, color: COLORS.text }, grid: { color: COLORS.grid } };
  const labelAxis = { ticks: { color: COLORS.text, autoSkip: true, maxRotation: 0 }, grid: { display: false } };
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    indexAxis: horizontal ? 'y' : 'x',
    plugins: { legend: { display: legend, labels: { color: COLORS.text } } },
    scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
  };
}
