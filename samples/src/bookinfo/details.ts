// details: the book's publication facts.
import { serve } from './server.js';

export function bookDetails(id: number) {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890',
  };
}

serve('details', {
  '/health': () => ({ body: { status: 'Details is healthy' } }),
  '/details/': (_req, url) => {
    const id = Number(url.pathname.split('/')[2]);
    if (!Number.isInteger(id)) return { status: 400, body: { error: 'please provide numeric product id' } };
    return { body: bookDetails(id) };
  },
});
