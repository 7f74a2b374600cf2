// `pnpm docs:check`, part 1: every relative link and anchor in the Markdown
// documentation resolves. Checks README.md, docs/**/*.md (docs/api/ aside:
// generated) and examples/*/README.md; links inside code are not links.
// An anchor must match a heading of the target file, slugged as GitHub does.
// External links (http:, https:, mailto:) are not fetched.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The Markdown files whose links are checked, relative to the root. */
export function markdownFiles() {
  const out = ['README.md'];
  const walk = (dir) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const rel = join(dir, e.name);
      if (e.isDirectory() && rel !== join('docs', 'api') && e.name !== 'node_modules') walk(rel);
      else if (e.isFile() && e.name.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  for (const e of readdirSync(join(root, 'examples'), { withFileTypes: true })) {
    if (e.isDirectory() && existsSync(join(root, 'examples', e.name, 'README.md'))) out.push(join('examples', e.name, 'README.md'));
  }
  return out;
}

/** The text outside fenced code blocks and inline code, line by line (blanked code keeps line numbers). */
function prose(text) {
  let fence = null;
  return text.split('\n').map((line) => {
    const m = /^\s*(```+|~~~+)/.exec(line);
    if (m) {
      if (fence === null) fence = m[1];
      else if (m[1].startsWith(fence[0]) && m[1].length >= fence.length) fence = null;
      return '';
    }
    return fence === null ? line.replace(/(`+)[\s\S]*?\1/g, '') : '';
  });
}

/** GitHub's heading anchors of a Markdown file (duplicates numbered -1, -2, ...). */
const anchorCache = new Map();
function anchorsOf(file) {
  if (anchorCache.has(file)) return anchorCache.get(file);
  const seen = new Map();
  const anchors = new Set();
  let fence = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fence = !fence;
    const h = !fence && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = h[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text
      .replace(/<[^>]+>/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  // Explicit anchors: <a id="..."> / <a name="...">.
  for (const m of readFileSync(file, 'utf8').matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]);
  anchorCache.set(file, anchors);
  return anchors;
}

/** Every broken link: { file, line, target, why }. */
export function brokenLinks() {
  const broken = [];
  for (const rel of markdownFiles()) {
    const file = join(root, rel);
    const lines = prose(readFileSync(file, 'utf8'));
    lines.forEach((line, i) => {
      const targets = [
        ...[...line.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]),
        ...[...line.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/g)].map((m) => m[1]),
        ...[...line.matchAll(/<(?:a|img)\s[^>]*(?:href|src)="([^"]+)"/g)].map((m) => m[1]),
      ];
      for (const target of targets) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        const [pathPart, anchor] = target.split('#', 2);
        const dest = pathPart === '' ? file : resolve(dirname(file), decodeURIComponent(pathPart));
        const where = { file: rel, line: i + 1, target };
        if (!existsSync(dest)) {
          broken.push({ ...where, why: `no such file: ${relative(root, dest)}` });
          continue;
        }
        if (anchor !== undefined) {
          if (!dest.endsWith('.md') || statSync(dest).isDirectory()) {
            if (!/^L\d+(-L\d+)?$/.test(anchor)) broken.push({ ...where, why: 'an anchor into a file that is not Markdown' });
          } else if (!anchorsOf(dest).has(anchor)) {
            broken.push({ ...where, why: `no heading #${anchor} in ${relative(root, dest)}` });
          }
        }
      }
    });
  }
  return broken;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = markdownFiles();
  const broken = brokenLinks();
  for (const b of broken) console.error(`${b.file}:${b.line}: broken link (${b.target}): ${b.why}`);
  if (broken.length) {
    console.error(`check-links: ${broken.length} broken links in ${files.length} files`);
    process.exit(1);
  }
  console.log(`check-links: every relative link and anchor resolves (${files.length} files)`);
}
