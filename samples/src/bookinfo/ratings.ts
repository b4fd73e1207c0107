// ratings: stars per reviewer.
import { serve } from './server.js';

serve('ratings', {
  '/health': () => ({ body: { status: 'Ratings is healthy' } }),
  '/ratings/': (_req, url) => {
    const id = Number(url.pathname.split('/')[2]);
    if (!Number.isInteger(id)) return { status: 400, body: { error: 'please provide numeric product ID' } };
    return { body: { id, ratings: { Reviewer1: 5, Reviewer2: 4 } } };
  },
});
