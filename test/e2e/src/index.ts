export { readOciArchive, tarEntries, type OciImage, type OciImageConfig, type OciDescriptor, type TarEntry } from './oci-archive.js';
