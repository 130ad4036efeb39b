import Table from 'cli-table3';
import { stringify } from 'csv-stringify/sync';
import { ColumnSpec } from '../core/columns';
import { AggregateRow, SettingValue, valueOf } from './aggregate';

const MISSING = '—';

/** A cell before formatting: text, a number with an optional spread, or null when missing. */
type Cell = string | null | { value: number | null; std: number | null; digits: number; suffix?: string };

interface Column {
  header: string;
  /** Header of a separate std column in CSV, whose numbers stay unformatted. */
  stdHeader?: string;
  cell: (row: AggregateRow) => Cell;
}

export function renderTerminal(rows: AggregateRow[], spec: readonly ColumnSpec[]): string {
  const { headers, body } = textTable(rows, spec);
  return terminalTable(headers, body);
}

export function renderMarkdown(rows: AggregateRow[], spec: readonly ColumnSpec[]): string {
  const { headers, body } = textTable(rows, spec);
  return markdownTable(headers, body);
}

/** A boxed terminal table of text cells, in the suite's one style. */
export function terminalTable(headers: string[], body: string[][]): string {
  const table = new Table({ head: headers, style: { head: [], border: [], compact: true } });
  table.push(...body);
  return table.toString();
}

/** A Markdown table of text cells, pipes in cells escaped. */
export function markdownTable(headers: string[], body: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...body.map(line)].join('\n') + '\n';
}

/** The table as HTML (cells as the terminal and Markdown tables show them). */
export function renderHtml(rows: AggregateRow[], spec: readonly ColumnSpec[]): string {
  const { headers, body } = textTable(rows, spec);
  return htmlTable(headers, body);
}

/** Text with HTML's special characters escaped. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** An HTML table of text cells, escaped. */
export function htmlTable(headers: string[], body: string[][]): string {
  const row = (cells: string[], tag: 'th' | 'td') => `<tr>${cells.map((cell) => `<${tag}>${escapeHtml(cell)}</${tag}>`).join('')}</tr>`;
  return `<table>\n<thead>${row(headers, 'th')}</thead>\n<tbody>\n${body.map((cells) => row(cells, 'td')).join('\n')}\n</tbody>\n</table>\n`;
}

/** Full-precision numbers, std in its own column and empty cells for missing values, for spreadsheets and plots. */
export function renderCsv(rows: AggregateRow[], spec: readonly ColumnSpec[]): string {
  const columns = reportColumns(rows, spec);
  const headers = columns.flatMap((column) => [column.header, ...(column.stdHeader ? [column.stdHeader] : [])]);
  const body = rows.map((row) => columns.flatMap((column) => csvCells(column.cell(row), column.stdHeader !== undefined)));
  return stringify([headers, ...body]);
}

/** The aggregated rows themselves, numbers unrounded (NaN has already become null). */
export function renderJson(rows: AggregateRow[]): string {
  return JSON.stringify(rows, null, 2) + '\n';
}

function textTable(rows: AggregateRow[], spec: readonly ColumnSpec[]): { headers: string[]; body: string[][] } {
  const columns = reportColumns(rows, spec);
  return {
    headers: columns.map((column) => column.header),
    body: rows.map((row) => columns.map((column) => formatCell(column.cell(row)))),
  };
}

/** Fixed leading columns (task when mixed, method, varied settings), the spec's, then fixed trailing ones. */
function reportColumns(rows: AggregateRow[], spec: readonly ColumnSpec[]): Column[] {
  const tasks = new Set(rows.map((row) => row.task));
  const settingNames = [...new Set(rows.flatMap((row) => Object.keys(row.settings)))].sort();
  return [
    ...(tasks.size > 1 ? [textColumn('task', (row) => row.task)] : []),
    textColumn('method', (row) => row.method),
    ...settingNames.map((name) => textColumn(name, (row) => settingText(row.settings[name]))),
    ...spec.map(specColumn),
    numberColumn('ms/iter (median)', 2, (row) => row.msPerIterMedian),
    numberColumn('FDM/CFM time', 2, (row) => row.fdmCfmTimeRatio, '×'),
    textColumn('iterations', (row) => String(row.iterations)),
    textColumn('seeds', seedsText),
    textColumn('backend', (row) => row.backends.join(', ')),
  ];
}

function textColumn(header: string, text: (row: AggregateRow) => string | null): Column {
  return { header, cell: text };
}

function numberColumn(header: string, digits: number, value: (row: AggregateRow) => number | null, suffix?: string): Column {
  return { header, cell: (row) => ({ value: value(row), std: null, digits, suffix }) };
}

function specColumn(spec: ColumnSpec): Column {
  const showStd = spec.showStd;
  return {
    header: spec.header,
    stdHeader: showStd ? `${spec.header} std` : undefined,
    cell: (row) => {
      const mean = valueOf(row, spec.key);
      const summary = row.metrics[spec.key];
      return {
        value: mean,
        std: showStd && summary && summary.n > 1 ? summary.std : null,
        digits: spec.digits,
      };
    },
  };
}

function settingText(value: SettingValue | undefined): string | null {
  return value === undefined ? null : String(value);
}

function seedsText(row: AggregateRow): string {
  const diverged = row.status.diverged;
  return diverged > 0 ? `${row.n} (${diverged} diverged)` : String(row.n);
}

function formatCell(cell: Cell): string {
  if (typeof cell === 'string') return cell;
  if (cell === null || cell.value === null) return MISSING;
  const mean = formatNumber(cell.value, cell.digits) + (cell.suffix ?? '');
  return cell.std === null ? mean : `${mean} ± ${formatNumber(cell.std, cell.digits)}`;
}

/** Fixed decimals, but exponent notation for a nonzero value that would otherwise print as zero. */
export function formatNumber(value: number, digits: number): string {
  const tooSmall = value !== 0 && Math.abs(value) < 0.5 * 10 ** -digits;
  return tooSmall ? value.toExponential(2) : value.toFixed(digits);
}

function csvCells(cell: Cell, hasStdColumn: boolean): string[] {
  if (typeof cell === 'string') return [cell];
  const number = (value: number | null | undefined) => (value == null ? '' : String(value));
  return hasStdColumn ? [number(cell?.value), number(cell?.std)] : [number(cell?.value)];
}
