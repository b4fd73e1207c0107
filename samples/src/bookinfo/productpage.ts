// productpage: the HTML front page. It calls details and reviews (reviews may call ratings) and renders
// what they return, naming the reviews pod that answered so traffic splits can be seen per request.
import { getJson, serve } from './server.js';
import { renderIndex, renderProductPage, type ReviewsDoc } from './productpage-html.js';

const detailsUrl = `http://${process.env.DETAILS_ADDR ?? 'details:9080'}/details`;
const reviewsUrl = `http://${process.env.REVIEWS_ADDR ?? 'reviews:9080'}/reviews`;
const products = [{ id: 0, title: 'The Comedy of Errors', descriptionHtml: 'A comedy by William Shakespeare: two pairs of twins separated at birth, one city, one long day of mistaken identities.' }];

serve('productpage', {
  '/': () => ({ body: renderIndex() }),
  '/index.html': () => ({ body: renderIndex() }),
  '/health': () => ({ body: { status: 'Product page is healthy' } }),
  '/api/v1/products': () => ({ body: products }),
  '/productpage': async (req) => {
    const [details, reviews] = await Promise.all([getJson(`${detailsUrl}/0`, req), getJson(`${reviewsUrl}/0`, req)]);
    return {
      status: 200,
      body: renderProductPage({
        product: products[0],
        details: details.status === 200 ? (details.json as Record<string, unknown>) : undefined,
        reviews: reviews.status === 200 ? (reviews.json as ReviewsDoc) : undefined,
        reviewsStatus: reviews.status,
      }),
    };
  },
});
