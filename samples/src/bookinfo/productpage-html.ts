// The productpage's HTML, kept apart from its HTTP handling so it can be unit-tested.

export interface ReviewsDoc {
  podname?: string;
  reviews?: { reviewer: string; text: string; rating?: { stars?: number; color?: string; error?: string } }[];
}

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(body: string): string {
  return `<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n<title>Simple Bookstore App</title>\n</head>\n<body>\n${body}\n</body>\n</html>\n`;
}

export function renderIndex(): string {
  return page(`<h3>Hello! This is a simple bookstore application consisting of three services as shown below</h3>
<p>productpage calls details and reviews; reviews (v2, v3) calls ratings.</p>
<p><a href="/productpage?u=normal">Normal user</a> <a href="/productpage?u=test">Test user</a></p>`);
}

export function renderProductPage(input: {
  product: { title: string; descriptionHtml: string };
  details?: Record<string, unknown>;
  reviews?: ReviewsDoc;
  reviewsStatus: number;
}): string {
  const details = input.details
    ? `<dl>\n${Object.entries(input.details).filter(([k]) => k !== 'id').map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('\n')}\n</dl>`
    : '<p>Error fetching product details!</p><p>Sorry, product details are currently unavailable for this book.</p>';
  let reviews: string;
  if (input.reviews?.reviews) {
    reviews = input.reviews.reviews.map((r) => {
      let stars = '';
      if (r.rating?.error) stars = `<p><font color="red">${esc(r.rating.error)}</font></p>`;
      else if (r.rating?.stars !== undefined) {
        stars = `<span class="stars" style="color:${esc(r.rating.color)}">${'★'.repeat(r.rating.stars)}${'☆'.repeat(5 - r.rating.stars)}</span>`;
      }
      return `<blockquote><p>${esc(r.text)}</p><small>${esc(r.reviewer)}</small>${stars}</blockquote>`;
    }).join('\n') + `\n<dl><dt>Reviews served by:</dt><dd><u>${esc(input.reviews.podname)}</u></dd></dl>`;
  } else {
    reviews = `<p>Error fetching product reviews!</p><p>Sorry, product reviews are currently unavailable for this book.</p><!-- status ${input.reviewsStatus} -->`;
  }
  return page(`<h1>${esc(input.product.title)}</h1>\n<p>${input.product.descriptionHtml}</p>\n<h4>Book Details</h4>\n${details}\n<h4>Book Reviews</h4>\n${reviews}`);
}
