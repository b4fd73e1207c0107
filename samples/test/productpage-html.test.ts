import test from 'ava';
import { renderIndex, renderProductPage } from '../src/bookinfo/productpage-html.js';

const product = { title: 'The Comedy of Errors', descriptionHtml: 'A comedy.' };

test('the index page carries the title the walkthrough greps for', (t) => {
  t.regex(renderIndex(), /<title>Simple Bookstore App<\/title>/);
});

test('the product page names the reviews pod and draws stars in the reviews color', (t) => {
  const html = renderProductPage({
    product,
    details: { author: 'William Shakespeare' },
    reviews: { podname: 'reviews-v3-7d8f9c-abcde', reviews: [{ reviewer: 'Reviewer1', text: 'good', rating: { stars: 4, color: 'red' } }] },
    reviewsStatus: 200,
  });
  t.regex(html, /Reviews served by:<\/dt><dd><u>reviews-v3-7d8f9c-abcde<\/u>/);
  t.regex(html, /style="color:red">★★★★☆</);
  t.regex(html, /<dd>William Shakespeare<\/dd>/);
});

test('v1 reviews have no stars; failed calls say so instead of breaking the page', (t) => {
  const v1 = renderProductPage({ product, reviews: { podname: 'reviews-v1-x', reviews: [{ reviewer: 'R', text: 't' }] }, reviewsStatus: 200 });
  t.notRegex(v1, /class="stars"/);
  t.regex(v1, /Sorry, product details are currently unavailable/);
  const down = renderProductPage({ product, reviewsStatus: 503 });
  t.regex(down, /Sorry, product reviews are currently unavailable/);
  t.regex(down, /<title>Simple Bookstore App<\/title>/);
});

test('text from the services is escaped', (t) => {
  const html = renderProductPage({ product, details: { x: '<script>' }, reviewsStatus: 0 });
  t.notRegex(html, /<script>/);
});
