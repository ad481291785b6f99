// First: ONNX Runtime's telemetry off in every process that loads dr-xai (see ort-env.ts).
import './ort-env.ts';

export { DrXaiError, isUserError, type InputErrorKind } from './errors.ts';
export { Rng } from './rng.ts';
export { writeFileAtomic, readFileOrFail, assertDirectory } from './fs.ts';
export { progressBar, type Progress } from './progress.ts';
export { corruptImageError, decodeImage, encodePng, writePng, DEFAULT_MAX_PIXELS, type RgbImage, type ImageLimits } from './image.ts';
export { sniffImageFormat, type ImageFormat } from './format.ts';
export { isDicom, readDicomPhotograph, type DicomPhotograph } from './dicom.ts';
export { checkImageGeometry } from './limits.ts';
export { toCsv, type CsvValue } from './csv-writer.ts';
export { DISCLAIMER } from './disclaimer.ts';
export { type Task, TASKS, NUM_GRADES, REFERABLE_GRADE, labelFor, classNamesFor, parseTask, outputsFor, isOrdinal, monotoneCumulativeLogits, gradeProbabilities, referableFromGradeProbabilities, predictedGrade, type GradeRule, GRADE_HEADS, type GradeHead, firstPositiveClass, softmaxRows, positiveProbability } from './tasks.ts';
export { writeHtmlReport, htmlPage, escapeHtml } from './html-report.ts';
export { findPlotFont, FONT_FAMILY } from './font.ts';
export { composeBoard, wrapText, type BoardCell, type BoardOptions } from './board.ts';
export { workerExecArgv } from './workers.ts';
