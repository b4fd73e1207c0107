// reviews: v1 shows no stars; v2 (black) and v3 (red) ask ratings for them. As in the original images the
// version is configuration: ENABLE_RATINGS and STAR_COLOR (the local cluster's image table sets them per image).
import { getJson, podName, serve } from './server.js';

const ratingsEnabled = process.env.ENABLE_RATINGS === 'true';
const starColor = process.env.STAR_COLOR ?? 'black';
const ratingsUrl = `http://${process.env.RATINGS_ADDR ?? 'ratings:9080'}/ratings`;

const REVIEWS = [
  { reviewer: 'Reviewer1', text: 'A fast, funny comedy of mistaken identities that never lets up.' },
  { reviewer: 'Reviewer2', text: 'Great fun on stage, though lighter than the later plays.' },
];

serve('reviews', {
  '/health': () => ({ body: { status: 'Reviews is healthy' } }),
  '/reviews/': async (req, url) => {
    const id = url.pathname.split('/')[2];
    let stars: Record<string, number> | undefined;
    let ratingsError: string | undefined;
    if (ratingsEnabled) {
      const r = await getJson(`${ratingsUrl}/${id}`, req, 2500);
      if (r.status === 200) stars = (r.json as { ratings?: Record<string, number> })?.ratings;
      else ratingsError = 'Ratings service is currently unavailable';
    }
    return {
      body: {
        id,
        podname: podName(),
        clustername: 'null',
        reviews: REVIEWS.map((r) => ({
          ...r,
          ...(ratingsEnabled ? { rating: ratingsError ? { error: ratingsError } : { stars: stars?.[r.reviewer] ?? 0, color: starColor } } : {}),
        })),
      },
    };
  },
});
