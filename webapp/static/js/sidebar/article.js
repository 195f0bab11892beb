/* Entry module of the whole-article page (/agent/article/<id>, templates/agent/article.html): opened from an answer
 * with ?h=heading, it marks that section and scrolls to it. It needs nothing else from the sidebar, so the page
 * loads only this file. */

/* On a whole-article page opened from an answer (?h=heading), mark and scroll to that section. */
export function highlightSection(article) {
  const wanted = new URLSearchParams(window.location.search).get('h');
  if (!wanted) return;
  const last = wanted.split('›').pop().trim();
  const headings = Array.from(article.querySelectorAll('.article-body :is(h1, h2, h3, h4)'));
  const heading = headings.find(function (h) { return h.textContent.trim() === last; });
  if (!heading) return;
  const level = Number(heading.tagName.slice(1));
  heading.classList.add('in-target', 'target-head');
  for (let node = heading.nextElementSibling; node; node = node.nextElementSibling) {
    if (/^H[1-6]$/.test(node.tagName) && Number(node.tagName.slice(1)) <= level) break;
    node.classList.add('in-target');
  }
  heading.scrollIntoView({ block: 'start' });
}

// A module script is deferred: the article is parsed by the time this runs.
const page = document.querySelector('[data-article-page]');
if (page) highlightSection(page);
